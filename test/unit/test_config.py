"""Monitor config validation: each bad input gets its own message naming the key."""
import pytest

from rostrace.model.config import ConfigError, load_config, parse_config

GOOD = {'publish_rate': 2, 'window': 5, 'targets': [
    {'node': 'talker', 'topics': ['chatter'],
     'thresholds': {'processing': {'warn': 5, 'error': 10.5, 'statistic': 'mean'}}},
    {'node': '/cam*'}]}


def test_good_config():
    cfg = parse_config(GOOD, source='m.yaml')
    assert cfg.publish_rate == 2.0 and cfg.window_s == 5.0
    talker, cams = cfg.targets
    assert talker.node == '/talker' and talker.topics == ('/chatter',)
    assert talker.thresholds['processing'].warn_ms == 5.0
    assert talker.thresholds['processing'].statistic == 'mean'
    assert cams.is_pattern and not talker.is_pattern


def test_window_defaults_to_one_period():
    assert parse_config({'targets': [{'node': '/a'}], 'publish_rate': 4}).window_s == 0.25


def bad(**changes):
    data = {'targets': [{'node': '/a'}, {'node': '/b'}, {'node': '/c', 'thresholds': {}}]}
    for key, value in changes.items():
        data[key] = value
    return data


def third(thresholds):
    return bad(targets=[{'node': '/a'}, {'node': '/b'}, {'node': '/c', 'thresholds': thresholds}])


@pytest.mark.parametrize('data, message', [
    ({'publish_rate': 1}, 'm.yaml: targets: missing'),
    (bad(targets=[]), 'm.yaml: targets: expected a non-empty list'),
    (bad(targets='talker'), "m.yaml: targets: expected a non-empty list, got 'talker'"),
    (bad(publish_rate='fast'), "m.yaml: publish_rate: expected a number of Hz, got 'fast'"),
    (bad(publish_rate=0), 'm.yaml: publish_rate: expected a positive number of Hz'),
    (bad(window=-1), 'm.yaml: window: expected a positive number of seconds'),
    (bad(colour='red'), 'm.yaml: colour: unknown key'),
    (third({'processing': {'warn': 'fast'}}),
     "m.yaml: targets[2].thresholds.processing.warn: expected a number of milliseconds, "
     "got 'fast'"),
    (third({'processing': {'warn': -1}}),
     'm.yaml: targets[2].thresholds.processing.warn: expected a non-negative number'),
    (third({'processing': {'warn': 10, 'error': 5}}),
     'm.yaml: targets[2].thresholds.processing: warn (10 ms) is above error (5 ms)'),
    (third({'latency': {'warn': 1}}), 'm.yaml: targets[2].thresholds.latency: unknown stage'),
    (third({'processing': {'warn': 1, 'statistic': 'p95'}}),
     "targets[2].thresholds.processing.statistic: expected one of mean, p50, p90, p99, max"),
    (third({'processing': {}}), 'targets[2].thresholds.processing: give warn and/or error'),
    (third({'processing': {'warn': 1, 'level': 2}}),
     'targets[2].thresholds.processing.level: unknown key'),
    (bad(targets=[{'topics': ['/x']}]), 'targets[0].node: expected a node name or pattern'),
    (bad(targets=[{'node': '/a', 'topics': '/x'}]), 'targets[0].topics: expected a list'),
    (bad(targets=[{'node': '/a', 'nodes': 1}]), 'targets[0].nodes: unknown key'),
])
def test_bad_config_messages(data, message):
    with pytest.raises(ConfigError) as err:
        parse_config(data, source='m.yaml')
    assert message in str(err.value)


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = tmp_path / 'broken.yaml'
    path.write_text('targets:\n  - node: /a\n    topics: [/x\n')
    with pytest.raises(ConfigError) as err:
        load_config(str(path))
    assert str(path) in str(err.value) and 'YAML syntax error: line' in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match='file not found'):
        load_config(str(tmp_path / 'nope.yaml'))


def test_rosparam_overrides_win(tmp_path):
    path = tmp_path / 'm.yaml'
    path.write_text('publish_rate: 1\ntargets: [{node: /a}]\n')
    cfg = load_config(str(path), overrides={'publish_rate': 5})
    assert cfg.publish_rate == 5.0


def test_critical_flag():
    cfg = parse_config({'targets': [{'node': '/rt', 'critical': True}, {'node': '/x'}]})
    assert cfg.targets[0].critical and not cfg.targets[1].critical
    with pytest.raises(ConfigError, match=r"targets\[0\].critical: expected true or false"):
        parse_config({'targets': [{'node': '/rt', 'critical': 'yes'}]}, source='m.yaml')


def test_thresholds_on_scheduler_splits():
    cfg = parse_config({'targets': [{'node': '/a', 'thresholds': {
        'queuing_starved': {'warn': 1}}}]})
    assert cfg.targets[0].thresholds['queuing_starved'].warn_ms == 1.0


def test_link_stages_take_thresholds_and_the_example_config_loads():
    cfg = parse_config({'targets': [{'node': '/a', 'thresholds': {
        'transport': {'warn': 2}, 'end_to_end': {'error': 40, 'statistic': 'max'},
        'serialization': {'warn': 1}, 'publish_queue': {'warn': 1}}}]})
    assert cfg.targets[0].thresholds['end_to_end'].statistic == 'max'
    import os
    example = os.path.join(os.path.dirname(__file__), '..', '..', 'config', 'monitor.yaml')
    assert 'transport' in load_config(example).targets[0].thresholds


def test_wanted_nodes_are_exact_names_and_running_pattern_matches():
    cfg = parse_config({'targets': [{'node': '/a'}, {'node': '/cam*'}]})
    running = {'/cam1', '/cam2', '/b', '/cam_monitor'}
    assert set(cfg.wanted(running, exclude='/cam_monitor')) == {'/a', '/cam1', '/cam2'}
    assert cfg.wanted(running)['/cam1'].node == '/cam*'


def test_overhead_budget():
    cfg = parse_config({'targets': [{'node': '/cam', 'budget': {'cpu_percent': 2}},
                                    {'node': '/x'}]})
    assert cfg.targets[0].budget == 2.0 and cfg.targets[1].budget is None
    for bad, message in [({'cpu_percent': 0}, 'expected a positive number'),
                         ({'cpu_percent': 250}, 'out of range'),
                         ({'cpu_percent': 'lots'}, 'expected a number of percent'),
                         ({}, 'budget.cpu_percent: missing'),
                         ({'cpu': 1}, 'budget.cpu'),
                         (3, 'budget: expected a mapping')]:
        with pytest.raises(ConfigError, match=message):
            parse_config({'targets': [{'node': '/cam', 'budget': bad}]}, source='m.yaml')


def test_link_split_thresholds_accepted():
    cfg = parse_config({'targets': [{'node': '/a', 'thresholds': {
        'network': {'warn': 2}, 'socket_wait': {'error': 5, 'statistic': 'mean'},
        'socket_wait_starved': {'warn': 1, 'statistic': 'mean'}}}]})
    t = cfg.targets[0].thresholds
    assert (t['network'].warn_ms, t['socket_wait'].error_ms) == (2.0, 5.0)


def test_link_split_threshold_on_a_percentile_is_refused():
    with pytest.raises(ConfigError) as e:
        parse_config({'targets': [{'node': '/a', 'thresholds': {
            'socket_wait_starved': {'warn': 1}}}]}, source='m.yaml')
    assert str(e.value).startswith('m.yaml: targets[0].thresholds.socket_wait_starved.'
                                   'statistic: a link split keeps no histogram')


def test_timer_thresholds():
    cfg = parse_config({'targets': [{'node': '/a', 'timers': {
        'lateness': {'warn': 5, 'error': 20}, 'missed': {'warn': 1}}}]})
    t = cfg.targets[0].timers
    assert (t['lateness'].warn_ms, t['lateness'].statistic) == (5.0, 'p99')
    assert (t['missed'].warn_ms, t['missed'].statistic) == (1.0, 'count')


@pytest.mark.parametrize('timers, message', [
    ({'late': {'warn': 1}}, 'targets[0].timers.late: unknown timer stage'),
    ({'missed': {'warn': 'x'}}, 'targets[0].timers.missed.warn: expected a number of firings'),
    ({'missed': {'statistic': 'p99'}}, 'targets[0].timers.missed.statistic: unknown key'),
    ({'missed': {}}, 'targets[0].timers.missed: give warn and/or error'),
])
def test_bad_timer_thresholds(timers, message):
    with pytest.raises(ConfigError) as e:
        parse_config({'targets': [{'node': '/a', 'timers': timers}]}, source='m.yaml')
    assert str(e.value).startswith('m.yaml: ' + message), str(e.value)


def test_paths_with_budgets():
    from rostrace.model.config import parse_config
    config = parse_config({'paths': [
        {'name': 'perception', 'from': '/camera/image', 'to': 'detections',
         'budget': {'warn': 80, 'error': 120}, 'statistic': 'p90'},
        {'from': '/scan', 'to': '/cmd_vel'}]})
    first, second = config.paths
    assert (first.name, first.source, first.destination) == (
        'perception', '/camera/image', '/detections')
    assert (first.budget.warn_ms, first.budget.error_ms, first.budget.statistic) == (
        80, 120, 'p90')
    assert second.name == '/scan→/cmd_vel' and second.budget is None
    assert config.targets == ()


@pytest.mark.parametrize('paths, problem', [
    ([{'from': '/a'}], 'paths[0].to'),
    ([{'from': '/a', 'to': '/b', 'name': 'x' * 65}], 'paths[0].name'),
    ([{'from': '/a', 'to': '/b', 'name': 'a;rm'}], 'paths[0].name'),
    ([{'from': '/a', 'to': '/b', 'statistic': 'p99'}], 'paths[0].statistic'),
    ([{'from': '/a', 'to': '/b', 'budget': {'warn': 'x'}}], 'paths[0].budget.warn'),
    ([{'from': '/a', 'to': '/b', 'name': 'p'}, {'from': '/c', 'to': '/d', 'name': 'p'}],
     'two paths'),
    ('a path', 'paths'),
])
def test_bad_paths_name_the_key(paths, problem):
    from rostrace.model.config import ConfigError, parse_config
    with pytest.raises(ConfigError) as e:
        parse_config({'targets': [{'node': '/n'}], 'paths': paths}, source='m.yaml')
    assert problem in str(e.value)


def test_monitor_cpu_percent():
    base = {'targets': [{'node': '/a'}]}
    assert parse_config(base).monitor_cpu_percent == 15.0
    assert parse_config({**base, 'monitor_cpu_percent': 0}).monitor_cpu_percent == 0.0
    assert parse_config({**base, 'monitor_cpu_percent': 50}).monitor_cpu_percent == 50.0
    for bad in (0.5, -1, 1000, 'x', True):
        with pytest.raises(ConfigError, match='monitor_cpu_percent'):
            parse_config({**base, 'monitor_cpu_percent': bad})
