"""Breakdown + thresholds -> diagnostic status (level, message, values). [pure]

Follows diagnostic_updater's habits: the highest level wins, non-OK messages are
joined with "; ", keys carry their units.
"""
from dataclasses import dataclass, field

from .breakdown import STAGES

OK, WARN, ERROR, STALE = 0, 1, 2, 3
LEVEL_NAMES = {OK: 'OK', WARN: 'WARN', ERROR: 'ERROR', STALE: 'STALE'}
PREFIX = 'rostrace'


@dataclass
class Status:
    name: str
    hardware_id: str
    level: int = ERROR
    message: str = 'no message set'
    values: list = field(default_factory=list)     # [(key, value as str)]


def status_name(node, topic=None):
    return f'{PREFIX}: {node} {topic}' if topic else f'{PREFIX}: {node}'


def _ms(seconds):
    return f'{seconds * 1e3:.3f}'


def stage_values(breakdown):
    values = [('pid', str(breakdown.pid)), ('window (s)', f'{breakdown.window_s:.3f}'),
              ('received', str(breakdown.received)), ('processed', str(breakdown.processed)),
              ('dropped', str(breakdown.dropped))]
    for name in STAGES:
        s = breakdown.stages[name]
        if not s.available:
            values.append((f'{name}', f'unavailable: {s.reason}'))
            continue
        values.append((f'{name} count', str(s.count)))
        for stat in ('mean', 'p50', 'p90', 'p99', 'max'):
            values.append((f'{name} {stat} (ms)', _ms(getattr(s, stat))))
    return values


def crossings(breakdown, thresholds):
    """[(level, text)] for every stage whose statistic crosses a bound."""
    found = []
    for stage, bound in thresholds.items():
        s = breakdown.stages.get(stage)
        if s is None or not s.available or not s.count:
            continue
        value_ms = getattr(s, bound.statistic) * 1e3
        for level, limit, label in ((ERROR, bound.error_ms, 'error'),
                                    (WARN, bound.warn_ms, 'warn')):
            if limit is not None and value_ms > limit:
                found.append((level, f'{stage} {bound.statistic} {value_ms:.2f} ms > '
                                     f'{label} {limit:g} ms'))
                break
    return found


def topic_status(breakdown, thresholds):
    status = Status(name=status_name(breakdown.node, breakdown.topic),
                    hardware_id=breakdown.host, values=stage_values(breakdown))
    found = crossings(breakdown, thresholds)
    if found:
        status.level = max(level for level, _ in found)
        status.message = '; '.join(text for _, text in sorted(found, reverse=True))
    else:
        status.level = OK
        dominant = breakdown.dominant_stage()
        status.message = (f'ok, dominated by {dominant}' if dominant
                          else 'ok, no messages in window')
    if breakdown.dropped and status.level == OK:
        status.message += f'; {breakdown.dropped} dropped'
    return status


def not_running_status(node, host, reason='not running'):
    return Status(name=status_name(node), hardware_id=host, level=ERROR, message=reason)


def monitor_status(*, host, attached, configured, probe_cost_us, errors, stopped=False):
    """The monitor's own status: what it traces, what it costs, what went wrong."""
    status = Status(name=f'{PREFIX}: monitor', hardware_id=host)
    status.values = [('targets attached', str(len(attached))),
                     ('targets configured', str(configured)),
                     ('attached', ' '.join(f'{n} ({p})' for n, p in sorted(attached))),
                     ('probe cost per entry+return (us)', f'{probe_cost_us:.2f}'),
                     ('lost events', 'none: aggregated in the kernel, no event stream'),
                     ('errors', str(len(errors)))]
    if stopped:
        status.level, status.message = WARN, 'monitor stopped: probes removed'
    elif errors:
        status.level, status.message = WARN, '; '.join(errors)
    else:
        status.level, status.message = OK, f'tracing {len(attached)} node(s)'
    return status
