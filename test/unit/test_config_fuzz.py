"""Generated configs (seeded): whatever a file holds, load_config either returns a config
whose every value is sane -- checked here independently of config.py -- or raises
ConfigError with a short message. Nothing else, ever."""
import math
import random
import re

import pytest

from rostrace.model.config import STAGES, STATISTICS, ConfigError, load_config

CASES = 2400
SEED = 20261127
NAME = re.compile(r'^(/[A-Za-z][A-Za-z0-9_]*)+$')
PATTERN_CHARS = set('*?[')

NUMBERS = [0, 1, 2.5, -1, -0.0, 1e-320, 5e-324, 1e308, 1e400, float('nan'), float('inf'),
           -float('inf'), 10 ** 400, 2 ** 63, 0.009, 0.01, 100, 100.5, 86400, 3.6e6, 3.7e6,
           1e-6, 1e-7, True, False, None]
STRINGS = ['', ' ', 'talker', '/talker', '/a/b', '//a', '/a/', 'a b', '/1a', '/ä', 'ünï',
           '/cam*', '*', '/[ab]x', '?x', '/x' * 200, '\x00', 'nan', 'p99', 'p95', 'mean',
           'processing', 'transport', 'latency', '2001-12-14', '${HOME}', '\u202e/evil',
           'x' * 5000]
KEYS = ['targets', 'publish_rate', 'window', 'node', 'topics', 'thresholds', 'critical',
        'warn', 'error', 'statistic', 'colour', '', 'processing', 'queuing', 'end_to_end']
HOSTILE = [
    b'targets: [{node: /a}]\nwindow: 2001-13-45\n',
    b'targets: [{node: /a}]\npublish_rate: !!int xyz\n',
    b'targets: [{node: /a}]\npublish_rate: !!float abc\n',
    b'targets: [{node: /a}]\npublish_rate: !!python/object/apply:os.system [true]\n',
    b'targets: [{node: /a}]\nwindow: !!binary aGVsbG8=\n',
    b'targets: [{node: /a}]\nwindow: !!timestamp 2001-12-14\n',
    b'targets: [{node: /a}]\nwindow: 1' + b'0' * 400 + b'\n',
    b'targets: [{node: /a}]\nwindow: .nan\n',
    b'targets: [{node: /a}]\npublish_rate: .inf\n',
    b'targets: [{node: /a}]\npublish_rate: 1e308\n',
    b'targets: [{node: /a}]\nwindow: 1e-320\n',
    b'targets: [{node: /a}]\ntargets: [{node: /b}]\n',
    b'targets: [{node: /a, node: /b}]\n',
    b'a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n'
    b'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n'
    b'e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ntargets: *f\n',
    b'targets: ' + b'[' * 5000 + b']' * 5000 + b'\n',
    b'targets: ' + b'{a: ' * 3000 + b'1' + b'}' * 3000 + b'\n',
    b'\xff\xfe\x00t\x00a\x00r\x00g\x00e\x00t\x00s\x00',
    b'targets: [{node: /a}]\n\x80\x81\n',
    b'targets:\n\t- node: /a\n',
    b'', b'---\n...\n', b'[1, 2]', b'"just a string"', b'42', b'null',
    b'? [a, b]\n: 1\ntargets: [{node: /a}]\n',
    b'targets: [{node: /a, thresholds: {processing: {warn: 1, error: 1e309}}}]\n',
    b'targets: [{node: /a, topics: [/x, 7, null]}]\n',
    b'targets: [{node: "/a\\u0000b"}]\n',
    b'targets: [{node: /a}]\n' + b'# ' + b'x' * 2_000_000 + b'\n',
]


def random_value(rng, depth=0):
    kind = rng.random()
    if depth > 3 or kind < 0.35:
        return rng.choice(NUMBERS)
    if kind < 0.7:
        return rng.choice(STRINGS)
    if kind < 0.85:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {rng.choice(KEYS + [7, None]): random_value(rng, depth + 1)
            for _ in range(rng.randint(0, 3))}


def valid_base(rng):
    stage = rng.choice(STAGES)
    return {'publish_rate': rng.choice([0.5, 1, 2, 10]), 'window': rng.choice([1, 5, 60]),
            'targets': [{'node': rng.choice(['/a', 'b', '/cam*', '/ns/node_1']),
                         'topics': [rng.choice(['/x', 'y/z'])],
                         'critical': rng.choice([True, False]),
                         'thresholds': {stage: {'warn': 1, 'error': 2,
                                                'statistic': rng.choice(STATISTICS)}}}]}


def mutate(rng, data):
    """Replace one value somewhere in the tree with a random one."""
    paths = []

    def walk(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                paths.append(path + [k])
                walk(v, path + [k])
        elif isinstance(node, list):
            for i, v in enumerate(node):
                paths.append(path + [i])
                walk(v, path + [i])
    walk(data, [])
    path = rng.choice(paths)
    parent = data
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = random_value(rng)
    return data


def to_yaml(data):
    import yaml
    try:
        return yaml.safe_dump(data, allow_unicode=rng_unicode[0]).encode('utf-8', 'surrogatepass')
    except (yaml.YAMLError, ValueError, TypeError, OverflowError):
        return repr(data).encode('utf-8', 'surrogatepass')


rng_unicode = [True]


def generated(rng):
    for i in range(CASES):
        choice = i % 6
        if choice == 0:
            yield to_yaml(random_value(rng))
        elif choice in (1, 2, 3):
            yield to_yaml(mutate(rng, valid_base(rng)))
        elif choice == 4:
            yield to_yaml(valid_base(rng))
        else:
            text = rng.choice(HOSTILE)
            cut = rng.randint(len(text) // 2, len(text)) if rng.random() < 0.3 else len(text)
            yield text[:cut]


def assert_sane(cfg, source):
    """What an accepted config may hold, written without config.py's helpers."""
    def finite_in(x, low, high, zero_ok=False):
        return (type(x) is float and math.isfinite(x)
                and (low <= x <= high or (zero_ok and x == 0)))
    assert finite_in(cfg.publish_rate, 0.01, 100), (source, cfg.publish_rate)
    assert cfg.window is None or finite_in(cfg.window, 0.01, 86400), (source, cfg.window)
    assert 1 <= len(cfg.targets) <= 1000
    for t in cfg.targets:
        assert isinstance(t.node, str) and len(t.node) <= 256, source
        if PATTERN_CHARS & set(t.node):
            assert re.match(r'^[/*?\[][A-Za-z0-9_/*?\[\]!-]*$', t.node), (source, t.node)
        else:
            assert NAME.match(t.node) and '//' not in t.node, (source, t.node)
        assert all(NAME.match(topic) for topic in t.topics), (source, t.topics)
        assert type(t.critical) is bool
        for stage, th in t.thresholds.items():
            assert stage in STAGES and th.statistic in STATISTICS, source
            for bound in (th.warn_ms, th.error_ms):
                assert bound is None or finite_in(bound, 1e-6, 3.6e6, zero_ok=True), (source, bound)
            assert th.warn_ms is not None or th.error_ms is not None
            if th.warn_ms is not None and th.error_ms is not None:
                assert th.warn_ms <= th.error_ms


@pytest.mark.parametrize('unicode', [True, False])
def test_generated_configs_are_accepted_sane_or_refused_with_a_config_error(tmp_path, unicode):
    rng_unicode[0] = unicode
    rng = random.Random(SEED + unicode)
    path = tmp_path / 'm.yaml'
    accepted, messages = 0, set()
    for n, text in enumerate(generated(rng)):
        path.write_bytes(text)
        try:
            cfg = load_config(str(path))
        except ConfigError as e:
            assert len(str(e)) < 600, (n, str(e)[:200])
            messages.add(str(e).split(': ', 2)[-1][:40])
            continue
        except Exception as e:                      # noqa: BLE001 -- the point of the test
            pytest.fail(f'case {n}: {type(e).__name__}: {str(e)[:200]} for {text[:200]!r}')
        assert_sane(cfg, text[:200])
        accepted += 1
    # The generator reaches both sides: valid configs pass, many distinct refusals.
    assert accepted >= CASES // 10, accepted
    assert len(messages) >= 30, sorted(messages)


def test_a_directory_an_alias_bomb_and_huge_files_are_refused_quickly(tmp_path):
    with pytest.raises(ConfigError, match='is a directory'):
        load_config(str(tmp_path))
    for text, match in ((HOSTILE[13], 'aliases'), (HOSTILE[14], 'nested deeper'),
                        (HOSTILE[-1], 'larger than'), (HOSTILE[0], 'bad value'),
                        (HOSTILE[11], 'duplicate key'), (HOSTILE[16], 'not UTF-8')):
        path = tmp_path / 'm.yaml'
        path.write_bytes(text)
        with pytest.raises(ConfigError, match=match) as err:
            load_config(str(path))
        assert len(str(err.value)) < 400


def test_parameters_pass_the_same_validation():
    for overrides in ({'publish_rate': float('nan')}, {'window': 10 ** 400},
                      {'targets': [{'node': '/a b'}]}, {'targets': 'x' * 10_000}):
        with pytest.raises(ConfigError) as err:
            load_config('', overrides=overrides)
        assert len(str(err.value)) < 400
