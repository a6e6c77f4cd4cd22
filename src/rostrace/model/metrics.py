"""Cumulative numbers for Prometheus: every period's new Window added to counters and
histograms per (node, topic[, stage]) that only grow, as Prometheus expects (rate() and
histogram_quantile() over them). [pure]

The kernel's log-linear buckets (16 per power of two) are folded into one bucket per
power of two (`le` = 2^k ns, from ~1 us to ~34 s): 27 series per histogram instead of
hundreds; histogram_quantile() then interpolates inside a power of two (the README says
so). Cardinality is bounded: at most `max_topics` (node, topic) pairs are kept (the
first ones seen); the rest are counted in `dropped_topics`.
"""
from dataclasses import dataclass, field

from .histogram import bucket_bounds

BOUNDS_NS = tuple(2 ** k for k in range(10, 36))       # 1.02 us .. 34.4 s
STAGES = ('queuing', 'deserialization', 'processing', 'total')
COUNTS = ('received', 'processed', 'dropped')
MAX_TOPICS = 200           # ~119 series each: 3 counters, 4 histograms of 27 buckets + sum + count


def power_bucket(kernel_bucket):
    """Index into BOUNDS_NS (len(BOUNDS_NS): +Inf) of the first bound that holds every
    value of a kernel bucket (its upper end)."""
    high = bucket_bounds(kernel_bucket)[1] - 1         # the largest ns the bucket holds
    for i, bound in enumerate(BOUNDS_NS):
        if high <= bound:
            return i
    return len(BOUNDS_NS)


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


class TopicTotals:
    """Per (node, topic): counters and stage histograms since the monitor started."""

    def __init__(self, max_topics=MAX_TOPICS):
        self.max_topics = max_topics
        self.counts = {}            # (node, topic) -> {name: total}
        self.stages = {}            # (node, topic, stage) -> CumulativeHistogram
        self.dropped_topics = 0     # (node, topic) pairs not kept (cardinality bound)
        self._dropped = set()

    def add(self, window, node_of):
        """A period's Window; node_of(pid) names a process (None: not a traced one)."""
        for key, numbers in window.topics.items():
            node = node_of(key.pid)
            if node is None:
                continue
            topic = (node, key.topic)
            if topic not in self.counts:
                if len(self.counts) >= self.max_topics:
                    if topic not in self._dropped:
                        self._dropped.add(topic)
                        self.dropped_topics += 1
                    continue
                self.counts[topic] = dict.fromkeys(COUNTS, 0)
            counts = self.counts[topic]
            for name in COUNTS:
                counts[name] += max(getattr(numbers, name), 0)
            for stage in STAGES:
                acc = numbers.stages.get(stage)
                if acc is not None and acc.count:
                    self.stages.setdefault((*topic, stage), CumulativeHistogram()).add(acc)
