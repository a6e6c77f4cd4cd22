"""Cumulative numbers for Prometheus: every period's new Window added to counters and
histograms that only grow, as Prometheus expects (rate() and histogram_quantile() over
them), per family of objects (FAMILIES: topics, links, timers, services, paths), each
series named by its family's labels. [pure]

The kernel's log-linear buckets (16 per power of two) are folded into one bucket per
power of two (`le` = 2^k ns, from ~1 us to ~34 s): 27 series per histogram instead of
hundreds; histogram_quantile() then interpolates inside a power of two (the README says
so). Cardinality is bounded: at most `max_topics` objects per family are kept (links:
twice that), the first ones seen; the rest are counted in `dropped`.
"""
from dataclasses import dataclass, field
from typing import Callable, NamedTuple

from .breakdown import LINK_STAGES
from .histogram import bucket_bounds
from .numbers import SERVICE_STAGES, TIMER_STAGES

BOUNDS_NS = tuple(2 ** k for k in range(10, 36))       # 1.02 us .. 34.4 s
STAGES = ('queuing', 'deserialization', 'processing', 'total')
COUNTS = ('received', 'processed', 'dropped')
MAX_TOPICS = 200           # ~119 series each: 3 counters, 4 histograms of 27 buckets + sum + count


_POWER = {}                 # kernel bucket -> power_bucket(), as they come


def power_bucket(kernel_bucket):
    """Index into BOUNDS_NS (len(BOUNDS_NS): +Inf) of the first bound that holds every
    value of a kernel bucket (its upper end). Remembered: every window folds each
    filled kernel bucket of every histogram (thousands a window at 10 000 msg/s)."""
    found = _POWER.get(kernel_bucket)
    if found is None:
        high = bucket_bounds(kernel_bucket)[1] - 1     # the largest ns the bucket holds
        found = next((i for i, bound in enumerate(BOUNDS_NS) if high <= bound),
                     len(BOUNDS_NS))
        _POWER[kernel_bucket] = found
    return found


@dataclass
class CumulativeHistogram:
    counts: list = field(default_factory=lambda: [0] * (len(BOUNDS_NS) + 1))
    count: int = 0
    sum_ns: int = 0

    def add(self, acc):
        """An Accumulator (count, sum, kernel buckets) of one window."""
        self.count += acc.count
        self.sum_ns += acc.sum_ns
        for bucket, n in acc.buckets.items():
            self.counts[power_bucket(bucket)] += n

    def cumulative(self):
        """[(le in seconds or '+Inf', cumulative count)] as Prometheus histograms want."""
        out, total = [], 0
        for bound, n in zip(BOUNDS_NS, self.counts):
            total += n
            out.append((bound / 1e9, total))
        out.append(('+Inf', self.count))
        return out


class Family(NamedTuple):
    """One kind of object in /metrics: its labels (after `host`), counters and stages."""
    labels: tuple
    counters: tuple
    stages: tuple
    bound: int = 1              # times max_topics objects kept


FAMILIES = {
    'topic': Family(('node', 'topic'), COUNTS, STAGES),
    'link': Family(('node', 'topic', 'publisher', 'publisher_host'), ('messages', 'dropped'),
                   LINK_STAGES, 2),
    'timer': Family(('node', 'timer'), ('firings', 'missed'), TIMER_STAGES),
    'service': Family(('node', 'service', 'role'), ('count', 'failed'), SERVICE_STAGES),
    'path': Family(('node', 'topic', 'source'), ('messages',), ('end_to_end',)),
}


class Names(NamedTuple):
    """How the objects of a Window are named (the engine knows): node(pid) of a traced
    process (None: not one), process(pid) of any, timer(TimerKey), service(ServiceKey)."""
    node: Callable
    process: Callable = None
    timer: Callable = None
    service: Callable = None


class SeriesTotals:
    """One family's counters and stage histograms since the monitor started, bounded."""

    def __init__(self, family, max_objects):
        self.family = family
        self.max_objects = max_objects
        self.counts = {}            # labels -> {counter: total}
        self.stages = {}            # (*labels, stage) -> CumulativeHistogram
        self.dropped = 0            # objects not kept (cardinality bound)
        self._dropped = set()

    def add(self, labels, counts, stages):
        if labels not in self.counts:
            if len(self.counts) >= self.max_objects:
                if labels not in self._dropped:
                    self._dropped.add(labels)
                    self.dropped += 1
                return
            self.counts[labels] = dict.fromkeys(self.family.counters, 0)
        mine = self.counts[labels]
        for name in self.family.counters:
            mine[name] += max(counts.get(name) or 0, 0)
        for stage in self.family.stages:
            acc = stages.get(stage)
            if acc is not None and acc.count:
                self.stages.setdefault((*labels, stage), CumulativeHistogram()).add(acc)


class MonitorTotals:
    """Every family's SeriesTotals; add() takes each period's Window."""

    def __init__(self, max_topics=MAX_TOPICS):
        self.families = {name: SeriesTotals(f, max_topics * f.bound)
                         for name, f in FAMILIES.items()}

    def __getitem__(self, name):
        return self.families[name]

    def add(self, window, names):
        node = names.node
        process = names.process or (lambda pid: node(pid) or f'pid:{pid}')
        for key, numbers in window.topics.items():
            owner = node(key.pid)
            if owner is None:
                continue
            self.families['topic'].add((owner, key.topic), vars(numbers), numbers.stages)
            for link, n in numbers.links.items():
                publisher = link.publisher or (owner if link.intra else
                                               process(link.publisher_pid))
                self.families['link'].add((owner, key.topic, publisher, link.host),
                                          vars(n), n.stages)
        for key, numbers in window.timers.items():
            owner = node(key.pid)
            if owner is not None and names.timer is not None:
                self.families['timer'].add((owner, names.timer(key)), vars(numbers),
                                           numbers.stages)
        for key, numbers in window.services.items():
            owner = node(key.pid)
            if owner is not None and names.service is not None:
                self.families['service'].add(
                    (owner, names.service(key), key.role), vars(numbers), numbers.stages)
        for key, numbers in window.paths.items():
            owner = node(key.pid)
            if owner is not None:
                self.families['path'].add((owner, key.topic, key.source), vars(numbers),
                                          numbers.stages)
