"""How often the monitor publishes: at the configured rate, or less often when its work
would take more of a core than `monitor_cpu_percent`. [pure]

A period's work (collect, build, statuses, messages) grows with the traced topics, not
with their messages; everything else the monitor does (following the graph, rospy's
threads) costs about the same per second whatever the period. So the period that keeps
the monitor within its limit is work / (limit - the rest's share, at most half the
limit: new nodes are read on other threads, a passing cost). A longer period must
not cost numbers: it stays short enough that the kernel's fullest map would be at most
FILL full (more distinct histogram buckets per window), and shorter than any period in
which one ran full.
"""
import collections
import statistics

PERIOD_MAX_S = 4.0      # never less often: diagnostic_aggregator marks a status stale
                        # after 5 s without an update
SAMPLES = 5             # periods behind the estimates (their median: one costly period,
                        # such as the first after an attach, moves nothing)
BACK_OFF = 0.75         # a period in which the kernel's maps ran full: this much shorter
RELAX = 1.02            # ... and the ceiling rises by this much a period without loss,
NEAR = 0.9              # ... up to this much of the shortest period that lost numbers
FILL = 0.8              # the share of a kernel map a period may be expected to use (its
                        # entries grow at most in proportion to the period)


class Pacing:
    """Running estimates of the monitor's CPU, and the period they allow."""

    def __init__(self):
        self._work = collections.deque(maxlen=SAMPLES)   # CPU seconds of a period's work
        self._rest = collections.deque(maxlen=SAMPLES)   # CPU share of everything else
        self.work_s = None      # their medians
        self.rest = 0.0
        self.share = 0.0        # CPU share of the whole process over the last period
        self.ceiling_s = None   # longest period without lost numbers (None: not known)
        self.lost_at_s = None   # the shortest period in which the kernel lost numbers
        self.fill_cap_s = None  # the period at which the fullest map would reach FILL

    def record(self, work_cpu_s, process_cpu_s, elapsed_s):
        """One period: CPU of its work, CPU of the process since the last record, and the
        time since then."""
        if elapsed_s <= 0:
            return
        self.share = process_cpu_s / elapsed_s
        self._work.append(work_cpu_s)
        self._rest.append(max(0.0, process_cpu_s - work_cpu_s) / elapsed_s)
        self.work_s = statistics.median(self._work)
        self.rest = statistics.median(self._rest)

    def kernel_maps(self, fullest, lost, period_s, configured_s):
        """The last period of `period_s`: the largest share of its entries a kernel map
        used (`fullest`) and whether one ran full (`lost`)."""
        self.fill_cap_s = period_s * FILL / fullest if fullest > 0 and period_s > 0 else None
        self.numbers_lost(lost, period_s, configured_s)

    def numbers_lost(self, lost, period_s, configured_s):
        """Whether the kernel's maps ran full in the last period (`lost`) of `period_s`."""
        if lost and period_s > configured_s:
            self.ceiling_s = max(configured_s, period_s * BACK_OFF)
            self.lost_at_s = min(self.lost_at_s or period_s, period_s)
        elif not lost and self.ceiling_s is not None:
            self.ceiling_s = min(self.ceiling_s * RELAX, self.lost_at_s * NEAR)

    def period(self, configured_s, limit_percent):
        """Seconds to the next period: `configured_s`, longer where the work at that rate
        would take the monitor over `limit_percent` of a core (0: no limit)."""
        if not limit_percent or self.work_s is None:
            return configured_s
        longest = max(PERIOD_MAX_S, configured_s)
        # The rest takes at most half of the limit from the work: what the monitor does
        # beside its periods is mostly passing (asking and reading new nodes on other
        # threads) and is not made smaller by publishing less often.
        left = max(limit_percent / 100.0 - self.rest, limit_percent / 200.0)
        for cap in (self.ceiling_s, self.fill_cap_s):
            if cap is not None:
                longest = max(configured_s, min(longest, cap))
        return min(max(configured_s, self.work_s / left), longest)
