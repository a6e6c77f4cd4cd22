"""Monitor configuration: YAML -> frozen dataclasses, validated. [pure]

Every problem names the file, the key and what was wrong, e.g.
"monitor.yaml: targets[2].thresholds.processing.warn: expected a number of
milliseconds, got 'fast'".
"""
import fnmatch
from dataclasses import dataclass, field

import yaml

from .breakdown import ALL_STAGES, LINK_STAGES
from .names import absolute

STAGES = ALL_STAGES + LINK_STAGES     # per topic, then per publisher link (worst link)
STATISTICS = ('mean', 'p50', 'p90', 'p99', 'max')
TOP_KEYS = {'targets', 'publish_rate', 'window'}
TARGET_KEYS = {'node', 'topics', 'thresholds', 'critical'}
THRESHOLD_KEYS = {'warn', 'error', 'statistic'}


class ConfigError(ValueError):
    def __init__(self, source, key, problem):
        super().__init__(f'{source}: {key}: {problem}' if key else f'{source}: {problem}')
        self.source, self.key, self.problem = source, key, problem


@dataclass(frozen=True)
class Threshold:
    warn_ms: float = None
    error_ms: float = None
    statistic: str = 'p99'


@dataclass(frozen=True)
class TargetSpec:
    node: str                              # a node name or a glob pattern
    topics: tuple = ()                     # empty: every subscribed topic
    thresholds: dict = field(default_factory=dict)     # stage -> Threshold
    critical: bool = False    # real-time audit: allocations and syscalls in callbacks

    @property
    def is_pattern(self):
        return any(c in self.node for c in '*?[')


@dataclass(frozen=True)
class MonitorConfig:
    targets: tuple
    publish_rate: float = 1.0
    window: float = None                   # seconds; None: one publish period

    @property
    def window_s(self):
        return self.window if self.window is not None else 1.0 / self.publish_rate

    def spec_for(self, node):
        """The first target spec whose name or pattern matches `node`, or None."""
        return next((s for s in self.targets if fnmatch.fnmatchcase(node, s.node)), None)

    def wants(self, node, topic):
        """True when a spec covers `node` and (if it lists topics) `topic`."""
        spec = self.spec_for(node)
        return spec is not None and (not spec.topics or topic in spec.topics)


def _number(source, key, value, *, unit, positive=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(source, key, f'expected a number of {unit}, got {value!r}')
    if value < 0 or (positive and value == 0):
        raise ConfigError(source, key, f'expected a {"positive" if positive else "non-negative"}'
                          f' number of {unit}, got {value!r}')
    return float(value)


def _unknown(source, key, mapping, allowed):
    extra = sorted(set(mapping) - allowed, key=str)
    if extra:
        where = f'{key}.{extra[0]}' if key else str(extra[0])
        raise ConfigError(source, where, f'unknown key (allowed: {", ".join(sorted(allowed))})')


def _mapping(source, key, value):
    if not isinstance(value, dict):
        raise ConfigError(source, key, f'expected a mapping, got {value!r}')
    return value


def _threshold(source, key, value):
    _mapping(source, key, value)
    _unknown(source, key, value, THRESHOLD_KEYS)
    statistic = value.get('statistic', 'p99')
    if statistic not in STATISTICS:
        raise ConfigError(source, f'{key}.statistic',
                          f'expected one of {", ".join(STATISTICS)}, got {statistic!r}')
    warn = value.get('warn')
    error = value.get('error')
    if warn is None and error is None:
        raise ConfigError(source, key, 'give warn and/or error (milliseconds)')
    if warn is not None:
        warn = _number(source, f'{key}.warn', warn, unit='milliseconds')
    if error is not None:
        error = _number(source, f'{key}.error', error, unit='milliseconds')
    if warn is not None and error is not None and warn > error:
        raise ConfigError(source, key, f'warn ({warn:g} ms) is above error ({error:g} ms)')
    return Threshold(warn_ms=warn, error_ms=error, statistic=statistic)


def _target(source, index, value):
    key = f'targets[{index}]'
    _mapping(source, key, value)
    _unknown(source, key, value, TARGET_KEYS)
    node = value.get('node')
    if not isinstance(node, str) or not node.strip():
        raise ConfigError(source, f'{key}.node', f'expected a node name or pattern, got {node!r}')
    node = node.strip()
    node = node if node.startswith('*') else absolute(node)      # '*' starts a pattern
    topics = value.get('topics', [])
    if not isinstance(topics, list) or not all(isinstance(t, str) and t for t in topics):
        raise ConfigError(source, f'{key}.topics', f'expected a list of topic names, got {topics!r}')
    topics = tuple(absolute(t) for t in topics)
    thresholds = _mapping(source, f'{key}.thresholds', value.get('thresholds', {}))
    parsed = {}
    for stage, spec in thresholds.items():
        if stage not in STAGES:
            raise ConfigError(source, f'{key}.thresholds.{stage}',
                              f'unknown stage (stages: {", ".join(STAGES)})')
        parsed[stage] = _threshold(source, f'{key}.thresholds.{stage}', spec)
    critical = value.get('critical', False)
    if not isinstance(critical, bool):
        raise ConfigError(source, f'{key}.critical', f'expected true or false, got {critical!r}')
    return TargetSpec(node=node, topics=topics, thresholds=parsed, critical=critical)


def parse_config(data, *, source='config'):
    """A loaded YAML document -> MonitorConfig, or ConfigError."""
    if data is None:
        data = {}
    _mapping(source, '', data)
    _unknown(source, '', data, TOP_KEYS)
    if 'targets' not in data:
        raise ConfigError(source, 'targets', 'missing: list the nodes to trace')
    targets = data['targets']
    if not isinstance(targets, list) or not targets:
        raise ConfigError(source, 'targets', f'expected a non-empty list, got {targets!r}')
    rate = _number(source, 'publish_rate', data.get('publish_rate', 1.0), unit='Hz',
                   positive=True)
    window = data.get('window')
    if window is not None:
        window = _number(source, 'window', window, unit='seconds', positive=True)
    return MonitorConfig(targets=tuple(_target(source, i, t) for i, t in enumerate(targets)),
                         publish_rate=rate, window=window)


def load_yaml(path):
    """Read a YAML file; syntax errors and missing files become ConfigError."""
    try:
        with open(path) as f:
            return yaml.safe_load(f)
    except FileNotFoundError:
        raise ConfigError(path, '', 'file not found') from None
    except yaml.YAMLError as e:
        mark = getattr(e, 'problem_mark', None)
        where = f'line {mark.line + 1}, column {mark.column + 1}: ' if mark else ''
        raise ConfigError(path, '', f'YAML syntax error: {where}'
                          f'{getattr(e, "problem", None) or e}') from None


def load_config(path, *, overrides=None):
    """The file at `path` (may be empty) with `overrides` (rosparams) on top."""
    data = load_yaml(path) if path else {}
    if data is not None and not isinstance(data, dict):
        raise ConfigError(path, '', f'expected a mapping at the top, got {type(data).__name__}')
    merged = dict(data or {})
    merged.update(overrides or {})
    return parse_config(merged, source=path or 'parameters')
