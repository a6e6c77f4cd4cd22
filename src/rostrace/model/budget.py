"""Overhead budget: what rostrace costs one traced process, and the probe set (mode)
that keeps that cost under the budget its user set. [pure]

The estimate is counted, not guessed: per window, the messages the kernel counted
(received at push, processed at call return) times the traps each costs in the current
mode times the calibrated cost of one trap, plus the time the kernel says its handlers
ran per hit (run_time_ns / run_cnt of each BPF program), plus the process's context
switches and page faults times the scheduler handlers' time per hit.
Not counted: the recvfrom tracepoint (only while a traced publisher feeds the process)
and the early exit of the scheduler handlers in the reduced modes.
The cheapest mode, `stats`, has no probe in the process: the node's own counters
(getBusStats, model/nodestats.py) give received and dropped, at the price of two
slave-API answers per window whatever the message rate (STATS_ANSWERS_NS).
"""
from dataclasses import dataclass, field

from .breakdown import ALL_STAGES, SPLIT_STAGES

MODES = ('full', 'reduced', 'counts', 'stats')
MODE_TEXT = {
    'full': 'full breakdown',
    'reduced': 'reduced: no deserialization or scheduler split',
    'counts': 'counts only: received, dropped, queued',
    'stats': "the node's own counts (getBusStats): received, dropped; no probes",
}
# Stages a mode does not measure.
MODE_OFF = {
    'full': (),
    'reduced': ('deserialization',) + SPLIT_STAGES,
    'counts': ALL_STAGES,
    'stats': ALL_STAGES,
}
# Uprobe traps per received and per processed message. A return probe traps twice (at
# the function's entry to take the return address, and at the return); an entry and a
# return probe on one function share the entry trap.
TRAPS = {'full': (1, 3), 'reduced': (1, 2), 'counts': (1, 0), 'stats': (0, 0)}
# BPF handlers run per received / processed message (probes/bpf/subscriber.c).
RECEIVED_HANDLERS = ('on_subscription_queue_push',)
# Modes without probes in the process: cheaper than every mode with one.
COUNTED_BY_NODE = ('stats',)
# The node's CPU for one getBusStats and one getBusInfo answer (roscpp here: 46 + 38 us
# over 500 calls each; a node with many connections answers longer).
STATS_ANSWERS_NS = 100_000
PROCESSED_HANDLERS = {
    'full': ('on_message_deserializer_deserialize',
             'on_message_deserializer_deserialize_return',
             'on_subscription_callback_done'),
    'reduced': ('on_message_deserializer_deserialize', 'on_subscription_callback_done'),
    'counts': (),
    'stats': (),
}
SWITCH = 'tracepoint__sched__sched_switch'
WAKING = 'tracepoint__sched__sched_waking'
FAULT = 'tracepoint__exceptions__page_fault_user'

HOLD_WINDOWS = 2        # windows a new mode is kept before the next change
UP_FRACTION = 0.5       # step up when the richer mode is predicted under half the budget


# Timed runs a handler's mean is made of (after its first): one budget window at a
# thousand messages a second; at low rates a mean waits for more timed windows.
MIN_TIMED_RUNS = 100


class HandlerTimes:
    """Mean ns per run of each BPF handler, from the kernel's cumulative (runs, ns) of
    the runs it timed. A mean is of at least `min_runs` runs since the handler's
    previous one; until a handler has such a mean its mean is of every run timed so
    far. A handler's time includes the interrupts and preemptions inside it: one such
    run among a few, at a low message rate, read as 130 us per run here and had the
    budget refuse the full mode at 2 msg/s."""

    def __init__(self, min_runs=MIN_TIMED_RUNS):
        self.min_runs = min_runs
        self.ns = {}            # handler -> mean ns per run
        self._base = {}         # handler -> (runs, ns) at its last mean of min_runs
        self._settled = set()   # handlers with such a mean

    def update(self, counters):
        """counters: {handler: (runs, ns)} as the kernel keeps them -> self.ns."""
        for name, (runs, ns) in counters.items():
            runs0, ns0 = self._base.get(name, (0, 0))
            if runs < runs0:                # counters of another program: start again
                runs0, ns0 = self._base[name] = (0, 0)
            enough = runs - runs0 >= self.min_runs
            if enough or (runs > runs0 and name not in self._settled):
                self.ns[name] = (ns - ns0) / (runs - runs0)
            if enough:
                self._base[name] = (runs, ns)
                self._settled.add(name)
        return self.ns


@dataclass
class Costs:
    trap_ns: float                                  # one uprobe trap (calibrated)
    handler_ns: dict = field(default_factory=dict)  # BPF handler -> mean ns per run


@dataclass
class Activity:
    """What one traced process did in one window."""
    window_s: float
    received: int = 0
    processed: int = 0
    dropped: int = 0
    switches: int = 0       # context switches of all its threads
    wakeups: int = 0        # ... of which voluntary (each follows a wakeup)
    faults: int = 0         # page faults


@dataclass
class Overhead:
    """A budgeted target's state, as its breakdowns report it."""
    mode: str                   # the mode the window was measured in
    budget_percent: float
    estimate_percent: float     # rostrace's estimated cost there, % of one core
    reason: str

    @property
    def unmeasured(self):
        """Stages this mode does not measure."""
        return MODE_OFF[self.mode]

    @property
    def text(self):
        return MODE_TEXT[self.mode]

    def as_dict(self):
        return {'mode': self.mode, 'budget_cpu_percent': self.budget_percent,
                'estimated_cpu_percent': round(self.estimate_percent, 3),
                'reason': self.reason}


def estimate_ns(mode, activity, costs, *, processed=None):
    """rostrace's cost (ns) on the process over the window in `mode`."""
    if mode in COUNTED_BY_NODE:
        return STATS_ANSWERS_NS
    h = costs.handler_ns
    processed = activity.processed if processed is None else processed
    per_received, per_processed = TRAPS[mode]
    ns = activity.received * (per_received * costs.trap_ns +
                              sum(h.get(n, 0.0) for n in RECEIVED_HANDLERS))
    ns += processed * (per_processed * costs.trap_ns +
                       sum(h.get(n, 0.0) for n in PROCESSED_HANDLERS[mode]))
    if mode == 'full':
        ns += (2 * activity.switches * h.get(SWITCH, 0.0) +
               activity.wakeups * h.get(WAKING, 0.0) + activity.faults * h.get(FAULT, 0.0))
    return ns


def percent_of_core(ns, window_s):
    return ns / (window_s * 1e9) * 100.0 if window_s > 0 else 0.0


class BudgetGovernor:
    """One process's budget. Over it: the richest cheaper mode predicted within it (the
    cheapest when none is), in one step. Well under it: one mode richer when that is
    predicted under UP_FRACTION of the budget. A new mode is held HOLD_WINDOWS windows.
    `cheapest` limits the modes a process can have (a node whose statistics cannot be
    read stops at counts); a mode past it is left at once."""

    def __init__(self, cpu_percent):
        self.cpu_percent = float(cpu_percent)
        self.mode = 'full'
        self.estimate_percent = 0.0
        self.reason = 'within budget'
        self._hold = 0

    def _predict(self, mode, activity, costs):
        processed = (activity.processed if self.mode not in ('counts', 'stats')
                     else max(activity.received - activity.dropped, 0))
        return percent_of_core(estimate_ns(mode, activity, costs, processed=processed),
                               activity.window_s)

    def update(self, activity, costs, *, cheapest=MODES[-1], why_not=''):
        """The mode for the next window, after the window `activity` describes
        (`why_not`: why the modes past `cheapest` are out, for the reason)."""
        self.estimate_percent = percent_of_core(estimate_ns(self.mode, activity, costs),
                                                activity.window_s)
        last = MODES.index(cheapest)
        i = MODES.index(self.mode)
        if i > last:
            self._change(cheapest, f'{self.mode} mode left: {why_not}')
            return self.mode
        if self._hold:
            self._hold -= 1
            return self.mode
        if self.estimate_percent > self.cpu_percent and i < last:
            cheaper = MODES[i + 1:last + 1]
            fits = [m for m in cheaper if self._predict(m, activity, costs) <= self.cpu_percent]
            self._change(fits[0] if fits else cheaper[-1],
                         f'estimated {self.estimate_percent:.2f} % of a core in {self.mode} '
                         f'mode > budget {self.cpu_percent:g} %')
        elif self.estimate_percent > self.cpu_percent:
            self.reason = (f'estimated {self.estimate_percent:.2f} % of a core > budget '
                           f'{self.cpu_percent:g} % even counting only'
                           + (f' ({MODES[last + 1]} mode out: {why_not})'
                              if why_not and last + 1 < len(MODES) else ''))
        elif i > 0:
            richer = MODES[i - 1]
            predicted = self._predict(richer, activity, costs)
            if predicted < self.cpu_percent * UP_FRACTION:
                self._change(richer, f'{richer} mode predicted at {predicted:.2f} % of a '
                                     f'core, within budget {self.cpu_percent:g} %')
        return self.mode

    def _change(self, mode, reason):
        self.mode, self.reason, self._hold = mode, reason, HOLD_WINDOWS
