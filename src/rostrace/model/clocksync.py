"""Another host's clock in this host's time: an offset and how sure of it we are.

Each monitor times everything in its host's time base: the kernel's CLOCK_MONOTONIC
(bpf_ktime_get_ns) mapped onto that host's CLOCK_REALTIME. Two hosts' bases differ by
the hosts' wall clocks' difference (NTP keeps it at milliseconds or less; a host
without it can be off by seconds). The monitors ping each other over ROS: a request
leaves here at t1 (our clock), arrives there at t2 and the reply leaves at t3 (their
clock), and is back here at t4. Whatever the one-way delays, the offset o = their
clock - ours satisfies

    t3 - t4  <=  o  <=  t2 - t1

so every ping is an interval that holds the offset for sure; the recent pings'
intervals intersected are the estimate (the middle) and its uncertainty (half the
width). Pings are kept for `horizon_ns` only, so that slow drift between two clocks
moves the estimate; intervals that no longer overlap (a clock stepped) restart it from
the newest ping.
"""
from collections import deque
from typing import NamedTuple

HORIZON_NS = 30 * 10**9         # pings an estimate is made of
MAX_PINGS = 64


class Offset(NamedTuple):
    """Their clock - ours, and the half width of the interval it lies in (ns)."""
    offset_ns: int
    uncertainty_ns: int
    pings: int


class OffsetEstimator:
    """One peer's offset from its pings (all times ns)."""

    def __init__(self, horizon_ns=HORIZON_NS):
        self.horizon_ns = horizon_ns
        self._pings = deque(maxlen=MAX_PINGS)   # (t4, low, high)

    def add(self, t1, t2, t3, t4):
        """One ping's four times; False (and ignored) when they cannot be true: the
        reply came back before the request left, or the peer replied before it got it."""
        if t4 < t1 or t3 < t2:
            return False
        low, high = t3 - t4, t2 - t1
        if self._pings and not self._overlaps(low, high):
            self._pings.clear()                 # a clock was stepped: start again
        self._pings.append((t4, low, high))
        return True

    def _overlaps(self, low, high):
        lows, highs = zip(*((lo, hi) for _, lo, hi in self._pings))
        return max(max(lows), low) <= min(min(highs), high)

    def estimate(self, now_ns=None):
        """The Offset from the pings of the last horizon (None without any)."""
        pings = list(self._pings)
        if now_ns is not None:
            pings = [p for p in pings if p[0] >= now_ns - self.horizon_ns] or pings[-1:]
        if not pings:
            return None
        low = max(p[1] for p in pings)
        high = min(p[2] for p in pings)
        return Offset((low + high) // 2, (high - low + 1) // 2, len(pings))
