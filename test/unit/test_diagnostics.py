"""Breakdown + thresholds -> status: highest level wins, messages name stage and bound."""
from rostrace.views import diagnostics as diag
from rostrace.model.breakdown import TopicBreakdown
from rostrace.model.config import Threshold
from rostrace.model.histogram import StageStats


def breakdown(processing_p99_s=0.012, processing_mean_s=0.010, queuing_p99_s=0.001,
              dropped=0):
    stages = {
        'queuing': StageStats(True, 10, 0.0005, 0.0001, queuing_p99_s, 0.0004, 0.0008,
                              queuing_p99_s),
        'deserialization': StageStats(True, 10, 1e-6, 1e-6, 2e-6, 1e-6, 2e-6, 2e-6),
        'processing': StageStats(True, 10, processing_mean_s, 0.009, processing_p99_s,
                                 0.010, 0.011, processing_p99_s),
        'total': StageStats(True, 10, 0.011, 0.009, 0.013, 0.011, 0.012, 0.013),
    }
    return TopicBreakdown(node='/n', pid=7, host='robot', topic='/t', window_s=1.0,
                          received=10, processed=10, dropped=dropped, stages=stages)


def test_ok_without_thresholds_names_dominant_stage():
    s = diag.topic_status(breakdown(), {})
    assert s.level == diag.OK and 'processing' in s.message
    assert s.name == 'rostrace: /n /t' and s.hardware_id == 'robot'
    assert ('processing p99 (ms)', '12.000') in s.values
    assert ('dropped', '0') in s.values


def test_a_nodelets_topic_is_named_after_the_nodelet_and_says_its_manager():
    b = breakdown()
    b.nodelet = '/camera/rectify'
    s = diag.topic_status(b, {})
    assert s.name == 'rostrace: /camera/rectify /t'
    assert ('nodelet manager', '/n') in s.values
    assert b.as_dict()['nodelet'] == '/camera/rectify'


def test_warn_and_error_highest_wins_messages_joined():
    thresholds = {'processing': Threshold(warn_ms=5, error_ms=11),
                  'queuing': Threshold(warn_ms=0.5)}
    s = diag.topic_status(breakdown(), thresholds)
    assert s.level == diag.ERROR
    assert s.message == ('processing p99 12.00 ms > error 11 ms; '
                         'queuing p99 1.00 ms > warn 0.5 ms')


def test_statistic_choice():
    thresholds = {'processing': Threshold(warn_ms=10.5, statistic='mean')}
    assert diag.topic_status(breakdown(), thresholds).level == diag.OK
    thresholds = {'processing': Threshold(warn_ms=9.5, statistic='mean')}
    assert diag.topic_status(breakdown(), thresholds).level == diag.WARN


def test_quiet_topic_is_ok_and_says_so():
    quiet = breakdown()
    quiet.stages = {k: StageStats(True) for k in quiet.stages}
    quiet.received = quiet.processed = 0
    s = diag.topic_status(quiet, {'processing': Threshold(warn_ms=1)})
    assert s.level == diag.OK and 'no messages' in s.message
    quiet.received = 10         # counted, none processed (counts only, or all queued)
    s = diag.topic_status(quiet, {'processing': Threshold(warn_ms=1)})
    assert s.level == diag.OK and s.message == 'ok, 10 received'


def test_not_running_is_error():
    s = diag.not_running_status('/talker', 'robot')
    assert (s.level, s.message, s.name) == (diag.ERROR, 'not running', 'rostrace: /talker')


def test_monitor_status_stopped():
    s = diag.monitor_status(host='h', attached=[('/a', 1)], configured=2, probe_cost_us=1.5,
                            errors=[], stopped=True)
    assert s.level == diag.WARN and 'stopped' in s.message
    assert ('targets attached', '1') in s.values


def test_starvation_dominated_queuing_warns():
    b = breakdown(queuing_p99_s=0.050)
    b.stages['queuing'] = StageStats(True, 10, 0.020, 0.001, 0.050, 0.02, 0.04, 0.05)
    b.stages['queuing_starved'] = StageStats(True, 10, 0.017)
    b.stages['queuing_busy'] = StageStats(True, 10, 0.002)
    b.stages['queuing_idle'] = StageStats(True, 10, 0.001)
    s = diag.topic_status(b, {})
    assert s.level == diag.WARN
    assert s.message == 'queuing dominated by CPU starvation (85 % of 20.00 ms)'
    assert ('queuing_starved share (%)', '85.0') in s.values


def test_audit_findings_warn():
    b = breakdown()
    b.audit = {'allocations': 3, 'allocations_per_callback': 0.3,
               'syscalls': {'write': 10, 'openat': 10}}
    s = diag.topic_status(b, {})
    assert s.level == diag.WARN
    assert 'critical callbacks allocate (3 malloc)' in s.message
    assert 'critical callbacks make syscalls (write x10, openat x10)' in s.message


def _link(publisher, transport_p99_s, *, dropped=0, intra=False):
    from rostrace.model.breakdown import LinkBreakdown
    t = StageStats(True, 10, transport_p99_s / 2, 1e-5, transport_p99_s, 1e-4, 1e-4,
                   transport_p99_s)
    return LinkBreakdown(publisher=publisher, pid=9, intra_process=intra, messages=10,
                         dropped=dropped, stages={'transport': t})


def test_link_threshold_uses_the_worst_publisher_and_names_it():
    b = breakdown()
    b.links = [_link('/fast_cam', 0.001), _link('/slow_cam', 0.004, dropped=3)]
    s = diag.topic_status(b, {'transport': Threshold(warn_ms=2)})
    assert s.level == diag.WARN
    assert s.message == 'transport from /slow_cam p99 4.00 ms > warn 2 ms'
    assert ('from /slow_cam dropped in outgoing queue', '3') in s.values
    assert ('from /fast_cam transport p99 (ms)', '1.000') in s.values


def test_outgoing_drops_are_said_when_ok():
    b = breakdown()
    b.links = [_link('/cam', 0.001, dropped=4)]
    s = diag.topic_status(b, {})
    assert s.level == diag.OK and '4 dropped in /cam outgoing queue' in s.message


def test_link_threshold_without_links_is_silent():
    s = diag.topic_status(breakdown(), {'end_to_end': Threshold(warn_ms=0.001)})
    assert s.level == diag.OK


def _starved_link(publisher='/cam'):
    """A link whose 8.4 ms transport is mostly its subscriber's poll thread runnable
    but not running (the message sat in the socket)."""
    link = _link(publisher, 0.0168)
    link.stages.update({
        'network': StageStats(True, 10, 0.00005),
        'socket_wait': StageStats(True, 10, 0.0082),
        'socket_wait_starved': StageStats(True, 10, 0.0078),
        'socket_wait_busy': StageStats(True, 10, 0.0002),
        'socket_wait_idle': StageStats(True, 10, 0.0002)})
    return link


def test_transport_dominated_by_a_starved_subscriber_warns():
    b = breakdown()
    b.links = [_starved_link()]
    s = diag.topic_status(b, {})
    assert s.level == diag.WARN
    assert s.message == ('transport from /cam dominated by the subscriber waiting for CPU '
                         '(95 % of 8.40 ms)')
    assert ('from /cam socket_wait_starved share (%)', '95.1') in s.values
    assert ('from /cam network mean (ms)', '0.050') in s.values


def test_starved_socket_and_queue_are_one_finding():
    b = breakdown()
    b.stages['queuing'] = StageStats(True, 10, 0.020, 0.001, 0.050, 0.02, 0.04, 0.05)
    b.stages['queuing_starved'] = StageStats(True, 10, 0.017)
    b.stages['queuing_busy'] = StageStats(True, 10, 0.003)
    b.links = [_starved_link()]
    s = diag.topic_status(b, {})
    assert s.message == ('subscriber waiting for CPU: 95 % of 8.40 ms of transport from '
                         '/cam, 85 % of queuing (20.00 ms)')


def test_slow_network_is_not_a_cause():
    b = breakdown()
    link = _link('/far', 0.0168)
    link.stages['network'] = StageStats(True, 10, 0.0080)
    link.stages['socket_wait_starved'] = StageStats(True, 10, 0.0001)
    b.links = [link]
    assert diag.topic_status(b, {}).level == diag.OK


def test_link_split_threshold():
    b = breakdown()
    b.links = [_starved_link()]
    s = diag.topic_status(b, {'socket_wait': Threshold(warn_ms=5, statistic='mean')})
    assert 'socket_wait from /cam mean 8.20 ms > warn 5 ms' in s.message


def _timer(missed=0, lateness_p99=0.030):
    from rostrace.model.breakdown import TimerBreakdown
    return TimerBreakdown(node='/ctl', pid=7, host='robot', timer='Controller::update',
                          period_s=0.05, kind='ros', window_s=1.0, count=20, missed=missed,
                          stages={'lateness': StageStats(True, 20, 0.006, 0, lateness_p99,
                                                         0, 0, lateness_p99),
                                  'queuing': StageStats(True, 20, 7e-5),
                                  'duration': StageStats(True, 20, 0.017)})


def test_timer_status_thresholds_on_stages_and_missed_firings():
    thresholds = {'lateness': Threshold(warn_ms=5, error_ms=50),
                  'missed': Threshold(warn_ms=0, error_ms=3, statistic='count')}
    s = diag.timer_status(_timer(missed=1), thresholds)
    assert s.name == 'rostrace: /ctl timer Controller::update' and s.level == diag.WARN
    assert s.message == 'missed 1 > warn 0; lateness p99 30.00 ms > warn 5 ms'
    assert ('period (ms)', '50.000') in s.values and ('missed', '1') in s.values
    ok = diag.timer_status(_timer(lateness_p99=0.001), {'lateness': Threshold(warn_ms=5)})
    assert (ok.level, ok.message) == (diag.OK, 'ok, 20 fired, 0 missed')
