"""The monitor's statuses for one period: a function of its configuration, the
breakdowns and what it knows about its targets. [pure]"""
import fnmatch
from dataclasses import dataclass, field

from . import diagnostics as diag


@dataclass
class MonitorState:
    """What the monitor knows at the end of a period (plain values, no handles)."""
    host: str
    attached: dict = field(default_factory=dict)   # node -> (pid, subscribed topics)
    problems: dict = field(default_factory=dict)   # node or pattern -> reason, or None
    errors: list = field(default_factory=list)     # monitor-level problems this period
    publishers: list = field(default_factory=list)  # [(node, pid)] publisher side traced
    probe_cost_us: float = 0.0
    lost: dict = field(default_factory=dict)         # kind -> count, since start
    lost_recent: dict = field(default_factory=dict)  # kind -> count, last window
    peers: dict = field(default_factory=dict)   # other monitors' hosts -> clocksync.Offset
    peer_refused: int = 0                       # their messages that made no sense, ever
    # (period s, configured period s, the monitor's CPU % of a core, its limit %) or None
    pacing: tuple = None


def _missing_topics(config, state):
    """A WARN per configured topic an attached node does not subscribe to."""
    out = []
    for node, (_, subscribed) in state.attached.items():
        spec = config.spec_for(node)
        for topic in (spec.topics if spec else ()):
            if topic not in subscribed:
                out.append(diag.Status(name=diag.status_name(node, topic),
                                       hardware_id=state.host, level=diag.WARN,
                                       message=f'{node} does not subscribe to {topic}'))
    return out


def _absent_targets(config, state):
    """ERROR per configured node that is not traced, and per pattern matching none."""
    out = [diag.not_running_status(node, state.host, reason)
           for node, reason in sorted(state.problems.items())
           if reason and node not in state.attached]
    known = list(state.attached) + list(state.problems)
    for spec in config.targets:
        if spec.is_pattern and not any(fnmatch.fnmatchcase(n, spec.node) for n in known):
            out.append(diag.not_running_status(spec.node, state.host,
                                               'not running: no node matches'))
    return out


def monitor_statuses(config, breakdowns, state, *, stopped=False, timers=(), services=(),
                     paths=(), tf=(), actions=()):
    """Per traced topic and timer, per missing topic or target, and the monitor's own
    status; `paths`: the paths' statuses, ready."""
    out = [diag.topic_status(b, config.spec_for(b.node).thresholds)
           for b in breakdowns if config.wants(b.node, b.topic)]
    out += [diag.timer_status(t, config.spec_for(t.node).timers) for t in timers
            if config.spec_for(t.node) is not None]
    out += [diag.service_status(s, config.spec_for(s.node).services) for s in services
            if config.spec_for(s.node) is not None]
    out += [diag.tf_status(t, config.spec_for(t.node).tf) for t in tf
            if config.spec_for(t.node) is not None]
    out += [diag.action_status(a, config.spec_for(a.node).actions) for a in actions
            if config.spec_for(a.node) is not None]
    out += list(paths)
    out += _missing_topics(config, state) + _absent_targets(config, state)
    out.append(diag.monitor_status(
        host=state.host, attached=[(n, pid) for n, (pid, _) in state.attached.items()],
        configured=len(config.targets), probe_cost_us=state.probe_cost_us,
        errors=state.errors, stopped=stopped, publishers=state.publishers,
        lost=state.lost, lost_recent=state.lost_recent, peers=state.peers,
        peer_refused=state.peer_refused, pacing=state.pacing))
    return out
