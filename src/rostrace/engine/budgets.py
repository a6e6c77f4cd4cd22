"""Overhead budgets of attached subscribers: each window, the cost rostrace estimates
it put on each budgeted process, and the probe mode for the next window
(model/budget.py decides; this applies it to the program)."""
from ..errors import RostraceError
from ..model.budget import MODES, Activity, BudgetGovernor, Costs, HandlerTimes, Overhead
from .nodestats import NodeCounters

UNCALIBRATED_TRAP_NS = 2000.0   # one uprobe trap when start-up calibration was skipped
TIMED_WINDOWS = 2       # windows in which the kernel times the handlers ...
TIMING_PERIOD = 60      # ... out of every this many: timing costs every BPF run


class Budgets:
    def __init__(self, probes, attachments, procfs, calibration):
        self.probes = probes
        self.attachments = attachments
        self.procfs = procfs
        self.calibration = calibration
        self.governors = {}         # pid -> BudgetGovernor
        self._activity = {}         # pid -> procfs.activity() at the last window
        self._measured_in = {}      # pid -> the budget mode of the last window
        self._handler_times = HandlerTimes()     # BPF handler -> ns per run
        self._window = 0            # windows since the last budget was set
        self.counters = NodeCounters()      # the `stats` mode's nodes

    def set(self, pid, cpu_percent):
        if pid not in self.attachments.subscribers:
            raise RostraceError(f'pid {pid} is not traced: no budget to set')
        self.governors[pid] = BudgetGovernor(cpu_percent)
        self._activity[pid] = self.procfs.activity(pid)
        self._window = 0
        self.probes.tables.time_handlers(True)

    def forget(self, pid):
        self.counters.stop(pid)
        self.governors.pop(pid, None)
        self._activity.pop(pid, None)
        self._measured_in.pop(pid, None)
        if not self.governors:
            self.probes.tables.time_handlers(False)

    def govern(self, window):
        """Every budgeted target's mode for the next window, from this one."""
        if not self.governors:
            return
        trap_ns = self.calibration.pair_ns / 2 if self.calibration else UNCALIBRATED_TRAP_NS
        costs = Costs(trap_ns=trap_ns,
                      handler_ns=self._handler_times.update(self.probes.tables.handler_runs()))
        changed = False
        for pid, governor in list(self.governors.items()):
            activity = self._activity_in(pid, window)
            if activity is None:
                continue                            # gone: the next attach pass forgets it
            self._measured_in[pid] = self.probes.mode(pid)
            target = self.attachments.subscribers.get(pid)
            why_not = self._why_not_stats(target)
            mode = governor.update(activity, costs, cheapest=MODES[-2] if why_not else MODES[-1],
                                   why_not=why_not)
            if target is not None and mode != self.probes.mode(pid):
                self._set_mode(target, mode)
                changed = True
        # The handlers are timed again after a mode change: the push handler of the
        # counts mode costs a fraction of the full mode's.
        self._window = 0 if changed else self._window + 1
        self.probes.tables.time_handlers(self._window % TIMING_PERIOD < TIMED_WINDOWS)

    def _why_not_stats(self, target):
        """Why `target` cannot be counted by its own statistics, or ''."""
        if target is None or not target.uri:
            return 'no slave API to ask'
        if target.client != 'roscpp':
            return f'a {target.client} node'
        return self.counters.problem(target.pid) or ''

    def _set_mode(self, target, mode):
        """Into `stats`: the probes go, then the node's baseline is asked; out of it: the
        last count is asked, then the probes return. No message counts twice; those
        received between the two steps (a slave-API round trip) are not counted."""
        if mode == 'stats':
            self.probes.set_mode(target, mode)
            self.counters.start(target)
        else:
            self.counters.stop(target.pid)
            self.probes.set_mode(target, mode)

    def close(self):
        self.counters.close()

    def _activity_in(self, pid, window):
        try:
            now = self.procfs.activity(pid)
        except RostraceError:
            return None
        before, self._activity[pid] = self._activity.get(pid, now), now
        activity = Activity(window_s=window.window_s, wakeups=now[0] - before[0],
                            switches=now[0] + now[1] - before[0] - before[1],
                            faults=now[2] - before[2])
        for key, numbers in window.topics.items():
            if key.pid == pid:
                activity.received += numbers.received
                activity.processed += numbers.processed
                activity.dropped += numbers.dropped
        return activity

    def overhead(self, pid):
        """The budget's state for a breakdown of `pid`, or None (no budget). The mode is
        the one this window was measured in."""
        governor = self.governors.get(pid)
        if governor is None:
            return None
        return Overhead(mode=self._measured_in.get(pid, self.probes.mode(pid)),
                        budget_percent=governor.cpu_percent,
                        estimate_percent=governor.estimate_percent, reason=governor.reason)
