"""Log-linear latency histograms (the layout of bpf/rostrace.h) and percentiles."""
from typing import NamedTuple

SUB_BUCKETS = 16     # linear sub-buckets per power of two (bpf/rostrace.h)
SUB_BITS = 4


def bucket_of(value_ns):
    """Same as bucket_of() in bpf/rostrace.h."""
    if value_ns < SUB_BUCKETS:
        return int(value_ns)
    e = int(value_ns).bit_length() - 1
    return (e - SUB_BITS + 1) * SUB_BUCKETS + ((int(value_ns) >> (e - SUB_BITS)) & (SUB_BUCKETS - 1))


def bucket_bounds(bucket):
    """[low, high) of a bucket in ns."""
    if bucket < SUB_BUCKETS:
        return bucket, bucket + 1
    e = bucket // SUB_BUCKETS + SUB_BITS - 1
    sub = bucket % SUB_BUCKETS
    width = 1 << (e - SUB_BITS)
    low = (SUB_BUCKETS + sub) * width
    return low, low + width


def percentile(buckets, fraction, *, lo=None, hi=None):
    """Value (ns) below which `fraction` of samples fall, from {bucket: count}.

    Interpolates linearly inside the bucket that holds the rank and clamps to the
    exact min/max when given, so the error stays within one sub-bucket (<= 6.25 %,
    typically far less).
    """
    return percentiles(buckets, (fraction,), lo=lo, hi=hi)[0]


def percentiles(buckets, fractions, *, lo=None, hi=None):
    """[percentile(buckets, f, lo=lo, hi=hi) for f in fractions], in one pass over the
    sorted buckets."""
    total = sum(buckets.values())
    if total == 0:
        return [0.0] * len(fractions)
    order = sorted(buckets)
    pending = sorted((fraction * total, i) for i, fraction in enumerate(fractions))
    out = [0.0] * len(fractions)
    k, seen = 0, 0
    for bucket in order:
        count = buckets[bucket]
        while k < len(pending) and seen + count >= pending[k][0]:
            rank, i = pending[k]
            low, high = bucket_bounds(bucket)
            out[i] = low + (high - low) * ((rank - seen) / count)
            k += 1
        if k == len(pending):
            break
        seen += count
    for _, i in pending[k:]:
        out[i] = bucket_bounds(order[-1])[1]
    for i, value in enumerate(out):
        if lo is not None:
            value = max(value, lo)
        if hi is not None:
            value = min(value, hi)
        out[i] = float(value)
    return out


class StageStats(NamedTuple):
    """One stage over one window; durations in seconds (a NamedTuple: a thousand topics'
    windows make ~30 000 a period, a frozen dataclass took twice as long to build)."""
    available: bool
    count: int = 0
    mean: float = 0.0
    min: float = 0.0
    max: float = 0.0
    p50: float = 0.0
    p90: float = 0.0
    p99: float = 0.0
    reason: str = ''          # why unavailable

    def as_dict(self):
        return {'available': self.available, 'count': self.count, 'mean': self.mean,
                'min': self.min, 'max': self.max, 'p50': self.p50, 'p90': self.p90,
                'p99': self.p99}


# StageStats are frozen, so the common ones are shared: a thousand topics' windows built
# ~20 000 a window, most of them empty or unavailable for the same few reasons.
EMPTY = StageStats(available=True)
_UNAVAILABLE = {}


def unavailable(reason):
    stats = _UNAVAILABLE.get(reason)
    if stats is None:
        if len(_UNAVAILABLE) > 1000:        # reasons are few; never grow without bound
            _UNAVAILABLE.clear()
        stats = _UNAVAILABLE[reason] = StageStats(available=False, reason=reason)
    return stats


def stage_stats(count, sum_ns, min_ns, max_ns, buckets):
    """StageStats (seconds) from the kernel's count/sum/min/max and histogram."""
    if count == 0:
        return EMPTY
    ns = 1e-9
    if min_ns == max_ns:            # one sample, or all alike: every percentile is it
        p50 = p90 = p99 = float(min_ns)
    else:
        p50, p90, p99 = percentiles(buckets, (0.50, 0.90, 0.99), lo=min_ns, hi=max_ns)
    return StageStats(True, count, sum_ns / count * ns, min_ns * ns, max_ns * ns, p50 * ns,
                      p90 * ns, p99 * ns)     # available, count, mean, min, max, p50 .. p99


class Accumulator:
    """Kernel numbers of one stage, mergeable across windows (for run summaries). A
    plain class with slots: a thousand topics' windows make tens of thousands."""
    __slots__ = ('count', 'sum_ns', 'min_ns', 'max_ns', 'buckets')

    def __init__(self, count=0, sum_ns=0, min_ns=0, max_ns=0):
        self.count, self.sum_ns, self.min_ns, self.max_ns = count, sum_ns, min_ns, max_ns
        self.buckets = {}

    def __repr__(self):
        return (f'Accumulator(count={self.count}, sum_ns={self.sum_ns}, min_ns={self.min_ns}, '
                f'max_ns={self.max_ns})')

    def __eq__(self, other):
        if not isinstance(other, Accumulator):
            return NotImplemented
        return (self.count, self.sum_ns, self.min_ns, self.max_ns) == \
            (other.count, other.sum_ns, other.min_ns, other.max_ns)

    __hash__ = None     # mutable, as the dataclass it was

    def add(self, count, sum_ns, min_ns, max_ns, buckets):
        if count == 0:
            return
        self.min_ns = min_ns if self.count == 0 else min(self.min_ns, min_ns)
        self.max_ns = max(self.max_ns, max_ns)
        self.count += count
        self.sum_ns += sum_ns
        for b, c in buckets.items():
            self.buckets[b] = self.buckets.get(b, 0) + c

    def merge(self, other):
        self.add(other.count, other.sum_ns, other.min_ns, other.max_ns, other.buckets)

    def add_value(self, value_ns):
        """One sample measured in user space (same buckets as the kernel's)."""
        value_ns = max(int(value_ns), 0)
        self.add(1, value_ns, value_ns, value_ns, {bucket_of(value_ns): 1})

    def stats(self):
        return stage_stats(self.count, self.sum_ns, self.min_ns, self.max_ns, self.buckets)
