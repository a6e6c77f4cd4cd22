"""Kernel numbers of one window -> TopicBreakdown per (process, topic). [pure]"""
from dataclasses import dataclass, field

from .histogram import Accumulator, StageStats, unavailable

STAGES = ('queuing', 'deserialization', 'processing', 'total')

# Stage -> probe points it needs (see probes/bpf/receive.c).
STAGE_NEEDS = {
    'queuing': ('queue_push', 'queue_call', 'deserialize'),
    'deserialization': ('queue_call', 'deserialize'),
    'processing': ('queue_call', 'deserialize'),
    'total': ('queue_push', 'queue_call', 'deserialize'),
}


@dataclass
class TopicBreakdown:
    node: str
    pid: int
    host: str
    topic: str
    window_s: float
    received: int = 0
    processed: int = 0
    dropped: int = 0
    stages: dict = field(default_factory=dict)     # stage -> StageStats

    def as_dict(self):
        return {'topic': self.topic, 'received': self.received,
                'processed': self.processed, 'dropped': self.dropped,
                'stages': {name: self.stages[name].as_dict() for name in STAGES}}

    def dominant_stage(self):
        """The stage (other than total) with the largest mean, or None."""
        parts = [(s.mean, name) for name, s in self.stages.items()
                 if name != 'total' and s.available and s.count]
        return max(parts)[1] if parts else None


def stage_availability(missing):
    """{stage: reason} for the stages a target's missing probe points disable."""
    out = {}
    for stage, needs in STAGE_NEEDS.items():
        reasons = [missing[p] for p in needs if p in missing]
        if reasons:
            out[stage] = '; '.join(reasons)
    return out


def build_breakdown(*, node, pid, host, topic, window_s, numbers, missing):
    """numbers: {stage: Accumulator, 'received'|'processed'|'dropped': int}."""
    disabled = stage_availability(missing)
    stages = {}
    for name in STAGES:
        if name in disabled:
            stages[name] = unavailable(disabled[name])
        else:
            acc = numbers.get(name)
            stages[name] = acc.stats() if acc else StageStats(available=True)
    return TopicBreakdown(node=node, pid=pid, host=host, topic=topic, window_s=window_s,
                          received=numbers.get('received', 0),
                          processed=numbers.get('processed', 0),
                          dropped=numbers.get('dropped', 0), stages=stages)


def merge_numbers(into, numbers):
    """Add numbers of one queue or window into accumulated per-topic numbers.

    Stage values are the kernel's [count, sum, min, max, buckets] or Accumulators.
    """
    for key, value in numbers.items():
        if key in STAGES:
            acc = into.setdefault(key, Accumulator())
            if isinstance(value, Accumulator):
                acc.merge(value)
            else:
                acc.add(*value)
        else:
            into[key] = into.get(key, 0) + value
    return into
