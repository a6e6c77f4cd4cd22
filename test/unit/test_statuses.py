"""The monitor's statuses as a pure function of config, breakdowns and what it knows
of its targets; the window history it merges breakdowns over."""
from rostrace.model.config import parse_config
from rostrace.model.history import WindowHistory
from rostrace.model.histogram import Accumulator
from rostrace.model.numbers import LinkKey, LinkNumbers, TopicKey, TopicNumbers, Window
from rostrace.views import diagnostics as diag
from rostrace.views.statuses import MonitorState, monitor_statuses

from test_diagnostics import breakdown

CONFIG = parse_config({'targets': [
    {'node': '/n', 'topics': ['/t', '/absent'],
     'thresholds': {'processing': {'warn': 5, 'error': 11}}},
    {'node': '/camera_*'},
    {'node': '/gone'}]})


def by_name(statuses):
    return {s.name: s for s in statuses}


def test_statuses_from_config_breakdowns_and_targets():
    state = MonitorState(host='robot', attached={'/n': (7, {'/t'})},
                         problems={'/gone': 'not running'}, probe_cost_us=2.5)
    other = breakdown()
    other.node = '/unconfigured'
    out = by_name(monitor_statuses(CONFIG, [breakdown(), other], state))
    assert set(out) == {'rostrace: /n /t', 'rostrace: /n /absent', 'rostrace: /gone',
                        'rostrace: /camera_*', 'rostrace: monitor robot'}
    assert out['rostrace: /n /t'].level == diag.ERROR                 # p99 12 ms > 11
    assert out['rostrace: /n /absent'].message == '/n does not subscribe to /absent'
    assert out['rostrace: /gone'].message == 'not running'
    assert out['rostrace: /camera_*'].message == 'not running: no node matches'
    monitor = out['rostrace: monitor robot']
    assert (monitor.level, monitor.message) == (diag.OK, 'tracing 1 node(s)')
    assert ('probe cost per entry+return (us)', '2.50') in monitor.values


def test_monitor_errors_and_stop_are_warnings():
    state = MonitorState(host='robot', errors=['follow_graph: master gone'])
    out = by_name(monitor_statuses(CONFIG, [], state))
    assert out['rostrace: monitor robot'].level == diag.WARN
    assert out['rostrace: monitor robot'].message == 'follow_graph: master gone'
    out = by_name(monitor_statuses(CONFIG, [], MonitorState(host='robot'), stopped=True))
    assert out['rostrace: monitor robot'].message == 'monitor stopped: probes removed'


def numbers(received, processing_ns, link_messages=0):
    n = TopicNumbers(received=received)
    n.stages['processing'] = Accumulator()
    for _ in range(received):
        n.stages['processing'].add_value(processing_ns)
    if link_messages:
        n.links[LinkKey(99, False)] = LinkNumbers(messages=link_messages)
    return n


def test_history_merges_the_newest_windows_that_cover_the_configured_window():
    history = WindowHistory()
    key = TopicKey(7, '/t')
    # three 1 s windows of 10, 20, 30 messages; the configured window is 2 s
    merged = [history.add(Window(1.0, {key: numbers(n, n * 1000, link_messages=n)}),
                          window_s=2.0) for n in (10, 20, 30)]
    assert [m.topics[key].received for m in merged] == [10, 30, 50]
    assert [m.window_s for m in merged] == [1.0, 2.0, 2.0]
    last = merged[-1].topics[key]
    assert last.stages['processing'].count == 50
    assert last.stages['processing'].max_ns == 30_000
    assert last.links[LinkKey(99, False)].messages == 50
    assert len(history) == 2
    assert merged[1].topics[key].received == 30, 'a merged window is a new object'


def test_what_the_kernel_could_not_record_is_a_warning_while_it_happens():
    lost = {'events': 3, 'stats': 2}
    state = MonitorState(host='robot', attached={'/n': (7, {'/t'})}, lost=lost,
                         lost_recent={'stats': 2})
    monitor = by_name(monitor_statuses(CONFIG, [breakdown()], state))['rostrace: monitor robot']
    assert monitor.level == diag.WARN
    assert monitor.message.startswith('2 lost samples (stats map full) in the last window')
    assert ('lost transport events', '3') in monitor.values
    state.lost_recent = {}
    monitor = by_name(monitor_statuses(CONFIG, [breakdown()], state))['rostrace: monitor robot']
    assert monitor.level == diag.OK and ('lost samples (stats map full)', '2') in monitor.values
