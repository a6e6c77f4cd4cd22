"""Kernel numbers of one window -> TopicBreakdown per (process, topic). [pure]"""
from dataclasses import dataclass, field

from .histogram import Accumulator, StageStats, unavailable

STAGES = ('queuing', 'deserialization', 'processing', 'total')
PARTS = ('queuing', 'deserialization', 'processing')          # total = their sum
# What the scheduler did meanwhile (kernel tracepoints, bpf/threads.h).
SPLITS = {'queuing': ('queuing_busy', 'queuing_starved', 'queuing_idle'),
          'processing': ('processing_oncpu', 'processing_runqueue', 'processing_blocked')}
SPLIT_STAGES = SPLITS['queuing'] + SPLITS['processing']
ALL_STAGES = STAGES + SPLIT_STAGES
PER_CALLBACK = ('voluntary_switches', 'involuntary_switches', 'page_faults')
# Across processes, per (publisher, subscriber, topic) link: serialization and the wait
# in the connection's outgoing queue (publisher side), transport = hand-off to roscpp in
# the publisher -> receipt in the subscriber, end_to_end = hand-off -> end of callback.
LINK_STAGES = ('serialization', 'publish_queue', 'transport', 'end_to_end')
INTRA_UNAVAILABLE = {'publish_queue': 'intra-process: no outgoing queue',
                     'transport': 'intra-process: no transport'}

# Stage -> probe points it needs (see probes/bpf/receive.c).
STAGE_NEEDS = {
    'queuing': ('queue_push', 'queue_call', 'deserialize'),
    'deserialization': ('queue_call', 'deserialize'),
    'processing': ('queue_call', 'deserialize'),
    'total': ('queue_push', 'queue_call', 'deserialize'),
}
STAGE_NEEDS.update({split: STAGE_NEEDS[parent] for parent, splits in SPLITS.items()
                    for split in splits})


@dataclass
class LinkBreakdown:
    """What one publisher's messages on a topic went through to this subscriber."""
    publisher: str          # node name
    pid: int
    intra_process: bool
    messages: int = 0       # matched messages that reached a callback
    dropped: int = 0        # dropped from the publisher's outgoing queue to us
    stages: dict = field(default_factory=dict)     # LINK_STAGES -> StageStats

    def as_dict(self):
        return {'publisher': self.publisher, 'pid': self.pid,
                'intra_process': self.intra_process, 'messages': self.messages,
                'dropped': self.dropped,
                'stages': {name: self.stages[name].as_dict() for name in LINK_STAGES
                           if name in self.stages}}


def build_link(*, publisher, pid, intra, numbers):
    stages = {}
    for name in LINK_STAGES:
        acc = numbers.get(name)
        if intra and name in INTRA_UNAVAILABLE:
            stages[name] = unavailable(INTRA_UNAVAILABLE[name])
        elif intra and name == 'serialization' and not (acc and acc.count):
            stages[name] = unavailable('intra-process: no copy, not serialized')
        else:
            stages[name] = acc.stats() if acc else StageStats(available=True)
    return LinkBreakdown(publisher=publisher, pid=pid, intra_process=intra,
                         messages=numbers.get('messages', 0),
                         dropped=numbers.get('dropped', 0), stages=stages)


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
    per_callback: dict = field(default_factory=dict)   # PER_CALLBACK name -> mean
    audit: dict = None        # real-time audit: {'allocations', 'syscalls': {name: n}}
    links: list = field(default_factory=list)      # LinkBreakdown per publisher
    transport_note: str = ''  # why publishers are missing, if some are

    def as_dict(self):
        out = {'topic': self.topic, 'received': self.received,
               'processed': self.processed, 'dropped': self.dropped,
               'stages': {name: self.stages[name].as_dict() for name in ALL_STAGES
                          if name in self.stages},
               'per_callback': dict(self.per_callback)}
        if self.audit is not None:
            out['audit'] = self.audit
        out['publishers'] = [link.as_dict() for link in self.links]
        if self.transport_note:
            out['transport_note'] = self.transport_note
        return out

    def worst_link(self, stage, statistic='mean'):
        """(value, link) of the link with the largest `statistic` of `stage`."""
        found = [(getattr(link.stages[stage], statistic), link) for link in self.links
                 if stage in link.stages and link.stages[stage].available
                 and link.stages[stage].count]
        return max(found, key=lambda f: f[0]) if found else (None, None)

    def dominant_stage(self):
        """The part (queuing, deserialization, processing) with the largest mean."""
        parts = [(self.stages[name].mean, name) for name in PARTS
                 if name in self.stages and self.stages[name].available
                 and self.stages[name].count]
        return max(parts)[1] if parts else None

    def share(self, split):
        """Fraction of its parent stage's mean that `split` accounts for (0..1)."""
        parent = next(p for p, splits in SPLITS.items() if split in splits)
        total = sum(self.stages[s].mean for s in SPLITS[parent]
                    if s in self.stages and self.stages[s].count)
        s = self.stages.get(split)
        return s.mean / total if s is not None and s.count and total else 0.0


def stage_availability(missing):
    """{stage: reason} for the stages a target's missing probe points disable."""
    out = {}
    for stage, needs in STAGE_NEEDS.items():
        reasons = [missing[p] for p in needs if p in missing]
        if reasons:
            out[stage] = '; '.join(reasons)
    return out


def build_breakdown(*, node, pid, host, topic, window_s, numbers, missing, audited=False,
                    publisher_names=None, transport_note=''):
    """numbers: {stage: Accumulator, 'received'|'processed'|'dropped': int,
    'sums': {name: [callbacks, events]}, 'syscalls': {name: count}}."""
    disabled = stage_availability(missing)
    stages = {}
    for name in ALL_STAGES:
        if name in disabled:
            stages[name] = unavailable(disabled[name])
        else:
            acc = numbers.get(name)
            stages[name] = acc.stats() if acc else StageStats(available=True)
    sums = numbers.get('sums', {})

    def mean(name):
        callbacks, events = sums.get(name, (0, 0))
        return events / callbacks if callbacks else 0.0
    audit = None
    if audited:
        audit = {'allocations': sums.get('allocations', (0, 0))[1],
                 'allocations_per_callback': mean('allocations'),
                 'syscalls': dict(sorted(numbers.get('syscalls', {}).items()))}
    return TopicBreakdown(node=node, pid=pid, host=host, topic=topic, window_s=window_s,
                          received=numbers.get('received', 0),
                          processed=numbers.get('processed', 0),
                          dropped=numbers.get('dropped', 0), stages=stages,
                          per_callback={name: mean(name) for name in PER_CALLBACK},
                          audit=audit, transport_note=transport_note,
                          links=[build_link(publisher=(publisher_names or {}).get(
                                                pub_pid, f'pid:{pub_pid}'),
                                            pid=pub_pid, intra=intra, numbers=link)
                                 for (pub_pid, intra), link in
                                 sorted(numbers.get('links', {}).items())])


def merge_numbers(into, numbers):
    """Add numbers of one queue or window into accumulated per-topic numbers.

    Stage values are the kernel's [count, sum, min, max, buckets] or Accumulators.
    """
    for key, value in numbers.items():
        if key in ALL_STAGES or key in LINK_STAGES:
            acc = into.setdefault(key, Accumulator())
            if isinstance(value, Accumulator):
                acc.merge(value)
            else:
                acc.add(*value)
        elif key == 'sums':
            sums = into.setdefault('sums', {})
            for name, (callbacks, events) in value.items():
                c, e = sums.get(name, (0, 0))
                sums[name] = [c + callbacks, e + events]
        elif key == 'links':
            links = into.setdefault('links', {})
            for link_key, link in value.items():
                merge_numbers(links.setdefault(link_key, {}), link)
        elif key == 'syscalls':
            calls = into.setdefault('syscalls', {})
            for name, count in value.items():
                calls[name] = calls.get(name, 0) + count
        else:
            into[key] = into.get(key, 0) + value
    return into
