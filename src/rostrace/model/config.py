"""Monitor configuration: YAML -> frozen dataclasses, validated. [pure]

Every problem names the file, the key and what was wrong, e.g.
"monitor.yaml: targets[2].thresholds.processing.warn: expected a number of
milliseconds, got 'fast'". Whatever the file holds (bytes that are not UTF-8, YAML tags,
impossible dates, huge or non-finite numbers, deep nesting, aliases, duplicate keys),
the only exception that leaves load_config() is ConfigError, and its message is short.
"""
import fnmatch
import math
import re
import reprlib
from dataclasses import dataclass, field

import yaml

from .breakdown import ALL_LINK_STAGES, ALL_STAGES, LINK_SPLIT_STAGES
from .numbers import TIMER_STAGES
from .names import absolute

STAGES = ALL_STAGES + ALL_LINK_STAGES     # per topic, then per publisher link (worst link)
STATISTICS = ('mean', 'p50', 'p90', 'p99', 'max')
UNBINNED = ('mean', 'max')        # what a stage without a histogram can be judged by
TOP_KEYS = {'targets', 'publish_rate', 'window', 'paths', 'monitor_cpu_percent'}
PATH_KEYS = {'name', 'from', 'to', 'budget', 'statistic'}
MAX_PATHS = 100
PATH_NAME = re.compile(r'^[A-Za-z0-9_./ -]{1,64}$')
TARGET_KEYS = {'node', 'topics', 'thresholds', 'critical', 'budget', 'timers', 'services',
               'tf', 'actions'}
# Per timer of a target (`timers:`): stages in ms like topics', `missed` in firings per
# window (statistic `count`).
TIMER_THRESHOLDS = TIMER_STAGES + ('missed',)
# Per service of a target (`services:`): stages in ms, `failed` (false + threw) per window.
SERVICE_THRESHOLDS = ('queuing', 'handling', 'round_trip', 'connect', 'failed')
# Per tf2 frame pair of a target (`tf:`): lookup and wait in ms, `failed` lookups per window.
TF_THRESHOLDS = ('lookup', 'wait', 'failed')
# Per action of a target (`actions:`): stages in ms, `failed` (aborted + rejected) per window.
ACTION_THRESHOLDS = ('accept', 'first_feedback', 'feedback_interval', 'result', 'failed')
COUNT_KEYS = {'warn', 'error'}
BUDGET_KEYS = {'cpu_percent'}
THRESHOLD_KEYS = {'warn', 'error', 'statistic'}

MAX_FILE_BYTES = 1 << 20
MAX_DEPTH = 16                  # nesting of YAML collections
MAX_TARGETS = 1000
MAX_NAME = 256
# Ranges: a value outside them is a typo or an attack, never a setting.
PUBLISH_RATE_HZ = (0.01, 100.0)
WINDOW_S = (0.01, 86400.0)
MONITOR_CPU_PERCENT = (1.0, 400.0)
THRESHOLD_MS = (1e-6, 3.6e6)    # or exactly 0
BUDGET_PERCENT = (0.01, 100.0)  # of one core
# ROS graph names (roslib.names.is_legal_name), absolute: /token[/token...]
LEGAL_NAME = re.compile(r'^(/[A-Za-z][A-Za-z0-9_]*)+$')
LEGAL_PATTERN = re.compile(r'^[/*?\[][A-Za-z0-9_/*?\[\]!-]*$')
_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60


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
    budget: float = None      # overhead budget, percent of one core (None: none)
    timers: dict = field(default_factory=dict)     # TIMER_THRESHOLDS name -> Threshold
    services: dict = field(default_factory=dict)   # SERVICE_THRESHOLDS name -> Threshold
    tf: dict = field(default_factory=dict)         # TF_THRESHOLDS name -> Threshold
    actions: dict = field(default_factory=dict)    # ACTION_THRESHOLDS name -> Threshold

    @property
    def is_pattern(self):
        return any(c in self.node for c in '*?[')


@dataclass(frozen=True)
class PathSpec:
    name: str
    source: str                            # topic whose publish starts the path
    destination: str                       # topic whose callback's end ends it
    budget: Threshold = None               # end-to-end bounds (None: measured only)


@dataclass(frozen=True)
class MonitorConfig:
    targets: tuple
    publish_rate: float = 1.0
    window: float = None                   # seconds; None: one publish period
    paths: tuple = ()                      # PathSpec
    # The monitor's own CPU (% of a core) above which it publishes less often; 0: none.
    monitor_cpu_percent: float = 15.0

    @property
    def window_s(self):
        return self.window if self.window is not None else 1.0 / self.publish_rate

    def spec_for(self, node):
        """The first target spec whose name or pattern matches `node`, or None."""
        return next((s for s in self.targets if fnmatch.fnmatchcase(node, s.node)), None)

    def wanted(self, running, *, exclude=''):
        """{node: spec} of the configured nodes: exact names whether running or not,
        patterns matched against the `running` node names (never `exclude`)."""
        wanted = {}
        for spec in self.targets:
            if spec.is_pattern:
                for node in fnmatch.filter(sorted(running), spec.node):
                    if node != exclude:
                        wanted.setdefault(node, spec)
            else:
                wanted.setdefault(spec.node, spec)
        return wanted

    def wants(self, node, topic):
        """True when a spec covers `node` and (if it lists topics) `topic`."""
        spec = self.spec_for(node)
        return spec is not None and (not spec.topics or topic in spec.topics)


def show(value):
    """A value as an error message shows it: repr, at most ~60 characters."""
    return _REPR.repr(value)


def _key(key):
    """A mapping key as a message shows it: as written when short text."""
    return key if isinstance(key, str) and len(key) <= 60 else show(key)


def _number(source, key, value, *, unit, span, positive=False):
    """A finite float within `span` (low, high); with positive=False also exactly 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(source, key, f'expected a number of {unit}, got {show(value)}')
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ConfigError(source, key, f'expected a finite number of {unit}, got {show(value)}')
    if number < 0 or (positive and number == 0):
        raise ConfigError(source, key, f'expected a {"positive" if positive else "non-negative"}'
                          f' number of {unit}, got {show(value)}')
    low, high = span
    if not (low <= number <= high or (number == 0 and not positive)):
        raise ConfigError(source, key, f'{show(value)} {unit} is out of range '
                          f'({low:g} to {high:g}{"" if positive else ", or 0"})')
    return number


def _name(source, key, value, *, what, pattern=False):
    """An absolute ROS graph name (or, with `pattern`, a glob over names)."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(source, key, f'expected a {what}, got {show(value)}')
    name = value.strip()
    is_pattern = pattern and any(c in name for c in '*?[')
    name = name if is_pattern and name.startswith(('*', '?', '[')) else absolute(name)
    legal = LEGAL_PATTERN if is_pattern else LEGAL_NAME
    if len(name) > MAX_NAME or not legal.match(name) or '//' in name:
        raise ConfigError(source, key, f'{show(value)} is not a legal ROS name (letters, '
                          'digits, _ and / separating tokens that start with a letter'
                          f'{"; * ? [ ] for patterns" if pattern else ""})')
    return name


def _unknown(source, key, mapping, allowed):
    extra = sorted(set(mapping) - allowed, key=str)
    if extra:
        where = f'{key}.{_key(extra[0])}' if key else _key(extra[0])
        raise ConfigError(source, where, f'unknown key (allowed: {", ".join(sorted(allowed))})')


def _mapping(source, key, value):
    if not isinstance(value, dict):
        raise ConfigError(source, key, f'expected a mapping, got {show(value)}')
    return value


def _threshold(source, key, value):
    _mapping(source, key, value)
    _unknown(source, key, value, THRESHOLD_KEYS)
    statistic = value.get('statistic', 'p99')
    if not isinstance(statistic, str) or statistic not in STATISTICS:
        raise ConfigError(source, f'{key}.statistic',
                          f'expected one of {", ".join(STATISTICS)}, got {show(statistic)}')
    if key.rsplit('.', 1)[-1] in LINK_SPLIT_STAGES and statistic not in UNBINNED:
        raise ConfigError(source, f'{key}.statistic',
                          f'a link split keeps no histogram: use one of '
                          f'{", ".join(UNBINNED)}, not {statistic}')
    warn = value.get('warn')
    error = value.get('error')
    if warn is None and error is None:
        raise ConfigError(source, key, 'give warn and/or error (milliseconds)')
    if warn is not None:
        warn = _number(source, f'{key}.warn', warn, unit='milliseconds', span=THRESHOLD_MS)
    if error is not None:
        error = _number(source, f'{key}.error', error, unit='milliseconds', span=THRESHOLD_MS)
    if warn is not None and error is not None and warn > error:
        raise ConfigError(source, key, f'warn ({warn:g} ms) is above error ({error:g} ms)')
    return Threshold(warn_ms=warn, error_ms=error, statistic=statistic)


def _target(source, index, value):
    key = f'targets[{index}]'
    _mapping(source, key, value)
    _unknown(source, key, value, TARGET_KEYS)
    node = _name(source, f'{key}.node', value.get('node'), what='node name or pattern',
                 pattern=True)
    topics = value.get('topics', [])
    if not isinstance(topics, list):
        raise ConfigError(source, f'{key}.topics',
                          f'expected a list of topic names, got {show(topics)}')
    topics = tuple(_name(source, f'{key}.topics[{i}]', t, what='topic name')
                   for i, t in enumerate(topics))
    thresholds = _mapping(source, f'{key}.thresholds', value.get('thresholds', {}))
    parsed = {}
    for stage, spec in thresholds.items():
        if not isinstance(stage, str) or stage not in STAGES:
            raise ConfigError(source, f'{key}.thresholds.{_key(stage)}',
                              f'unknown stage (stages: {", ".join(STAGES)})')
        parsed[stage] = _threshold(source, f'{key}.thresholds.{stage}', spec)
    critical = value.get('critical', False)
    if not isinstance(critical, bool):
        raise ConfigError(source, f'{key}.critical',
                          f'expected true or false, got {show(critical)}')
    budget = None
    if 'budget' in value:
        spec = _mapping(source, f'{key}.budget', value['budget'])
        _unknown(source, f'{key}.budget', spec, BUDGET_KEYS)
        if 'cpu_percent' not in spec:
            raise ConfigError(source, f'{key}.budget.cpu_percent',
                              'missing: the share of one core rostrace may cost this node')
        budget = _number(source, f'{key}.budget.cpu_percent', spec['cpu_percent'],
                         unit='percent of one core', positive=True, span=BUDGET_PERCENT)
    return TargetSpec(node=node, topics=topics, thresholds=parsed, critical=critical,
                      budget=budget,
                      timers=_object_thresholds(source, f'{key}.timers', value.get('timers', {}),
                                                TIMER_THRESHOLDS, 'missed', 'firings'),
                      services=_object_thresholds(source, f'{key}.services',
                                                  value.get('services', {}),
                                                  SERVICE_THRESHOLDS, 'failed', 'requests'),
                      tf=_object_thresholds(source, f'{key}.tf', value.get('tf', {}),
                                            TF_THRESHOLDS, 'failed', 'lookups'),
                      actions=_object_thresholds(source, f'{key}.actions',
                                                 value.get('actions', {}), ACTION_THRESHOLDS,
                                                 'failed', 'goals'))


def _object_thresholds(source, key, value, names, count_name, unit):
    """`timers: {lateness: {warn: 5, error: 20}, missed: {warn: 1}}` (or `services:`) ->
    {name: Threshold}; `count_name` is a count per window (statistic 'count')."""
    _mapping(source, key, value)
    what = {'timers': 'timer', 'services': 'service', 'tf': 'tf',
            'actions': 'action'}[key.rsplit('.', 1)[-1]]
    parsed = {}
    for name, spec in value.items():
        if not isinstance(name, str) or name not in names:
            raise ConfigError(source, f'{key}.{_key(name)}',
                              f'unknown {what} stage (stages: {", ".join(names)})')
        if name != count_name:
            parsed[name] = _threshold(source, f'{key}.{name}', spec)
            continue
        _mapping(source, f'{key}.{name}', spec)
        _unknown(source, f'{key}.{name}', spec, COUNT_KEYS)
        if not spec:
            raise ConfigError(source, f'{key}.{name}', f'give warn and/or error ({unit})')
        bounds = {k: _number(source, f'{key}.{name}.{k}', spec[k], unit=unit,
                             span=(0, 1e9)) for k in spec}
        parsed[name] = Threshold(warn_ms=bounds.get('warn'), error_ms=bounds.get('error'),
                                 statistic='count')
    return parsed


def parse_config(data, *, source='config'):
    """A loaded YAML document -> MonitorConfig, or ConfigError."""
    if data is None:
        data = {}
    _mapping(source, '', data)
    _unknown(source, '', data, TOP_KEYS)
    if 'targets' not in data and 'paths' not in data:
        raise ConfigError(source, 'targets', 'missing: list the nodes to trace (or paths)')
    targets = data.get('targets', [])
    if not isinstance(targets, list) or (not targets and 'paths' not in data):
        raise ConfigError(source, 'targets', f'expected a non-empty list, got {show(targets)}')
    if len(targets) > MAX_TARGETS:
        raise ConfigError(source, 'targets', f'{len(targets)} targets: at most {MAX_TARGETS}'
                          ' (use patterns)')
    rate = _number(source, 'publish_rate', data.get('publish_rate', 1.0), unit='Hz',
                   positive=True, span=PUBLISH_RATE_HZ)
    window = data.get('window')
    if window is not None:
        window = _number(source, 'window', window, unit='seconds', positive=True,
                         span=WINDOW_S)
    cpu = _number(source, 'monitor_cpu_percent', data.get('monitor_cpu_percent', 15.0),
                  unit='percent of a core', span=MONITOR_CPU_PERCENT)
    paths = data.get('paths', [])
    if not isinstance(paths, list) or len(paths) > MAX_PATHS:
        raise ConfigError(source, 'paths', f'expected a list of at most {MAX_PATHS} paths, '
                          f'got {show(paths)}')
    parsed = tuple(_path(source, i, p) for i, p in enumerate(paths))
    names = [p.name for p in parsed]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(source, 'paths', f'two paths are named {name!r}')
    return MonitorConfig(targets=tuple(_target(source, i, t) for i, t in enumerate(targets)),
                         publish_rate=rate, window=window, paths=parsed,
                         monitor_cpu_percent=cpu)


def _path(source, index, value):
    """`{name, from, to, budget: {warn, error, statistic}, statistic}` -> PathSpec."""
    key = f'paths[{index}]'
    _mapping(source, key, value)
    _unknown(source, key, value, PATH_KEYS)
    ends = [_name(source, f'{key}.{end}', value.get(end), what='topic name')
            for end in ('from', 'to')]
    name = value.get('name', f'{ends[0]}→{ends[1]}')
    if not isinstance(name, str) or not (PATH_NAME.match(name) or 'name' not in value):
        raise ConfigError(source, f'{key}.name', f'expected up to 64 letters, digits, spaces '
                          f'or _ . / -, got {show(name)}')
    budget = None
    if 'budget' in value:
        spec = dict(_mapping(source, f'{key}.budget', value['budget']))
        if 'statistic' in value:
            spec.setdefault('statistic', value['statistic'])
        budget = _threshold(source, f'{key}.budget', spec)
    elif 'statistic' in value:
        raise ConfigError(source, f'{key}.statistic', 'a statistic needs a budget to judge')
    return PathSpec(name=name, source=ends[0], destination=ends[1], budget=budget)


class _ConfigLoader(yaml.SafeLoader):
    """SafeLoader that refuses what a config never needs and an attacker would use:
    aliases (billion laughs), nesting deeper than MAX_DEPTH, duplicate keys."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.events.AliasEvent):
            raise yaml.composer.ComposerError(None, None, 'aliases (*name) are not allowed',
                                              self.peek_event().start_mark)
        self._depth = getattr(self, '_depth', 0) + 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(None, None, f'nested deeper than {MAX_DEPTH}',
                                                  self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    None, None, 'a mapping key must be a plain value', key_node.start_mark)
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f'duplicate key {show(key)}', key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def _read_text(path):
    try:
        with open(path, 'rb') as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(path, '', 'file not found') from None
    except IsADirectoryError:
        raise ConfigError(path, '', 'is a directory, not a YAML file') from None
    except OSError as e:
        raise ConfigError(path, '', f'cannot read: {e.strerror or e}') from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(path, '', f'larger than {MAX_FILE_BYTES >> 20} MiB')
    try:
        return raw.decode('utf-8')
    except UnicodeDecodeError as e:
        raise ConfigError(path, '', f'not UTF-8 text (byte {e.start})') from None


def load_yaml(path):
    """Read a YAML file; every failure becomes ConfigError with a short message."""
    text = _read_text(path)
    try:
        return yaml.load(text, Loader=_ConfigLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, 'problem_mark', None)
        where = f'line {mark.line + 1}, column {mark.column + 1}: ' if mark else ''
        problem = str(getattr(e, 'problem', None) or e)[:200]
        raise ConfigError(path, '', f'YAML syntax error: {where}{problem}') from None
    except RecursionError:
        raise ConfigError(path, '', 'nested too deeply') from None
    except Exception as e:      # PyYAML's constructors on explicit tags and odd values
        # raise what they happen to (ValueError for 2001-13-45 or !!int xyz,
        # AttributeError for !!timestamp 20, ...): the file is at fault, not us.
        raise ConfigError(path, '', f'bad value: {type(e).__name__}: {str(e)[:200]}') from None


def load_config(path, *, overrides=None):
    """The file at `path` (may be empty) with `overrides` (rosparams) on top."""
    data = load_yaml(path) if path else {}
    if data is not None and not isinstance(data, dict):
        raise ConfigError(path, '', f'expected a mapping at the top, got {type(data).__name__}')
    merged = dict(data or {})
    if overrides is not None and not isinstance(overrides, dict):
        raise ConfigError('parameters', '', f'expected a mapping, got {show(overrides)}')
    merged.update(overrides or {})
    return parse_config(merged, source=path or 'parameters')
