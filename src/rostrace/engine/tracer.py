"""Library API: attach to roscpp processes, take per-window snapshots, detach.

A thin front over the parts that do the work, so the CLI, the monitor and the
benchmarks read the same: Attachments (who carries which probes), ObjectNames (which
topic a kernel object is), WindowCollector (one window of numbers, with the transport
matcher) and model.breakdown (numbers -> TopicBreakdown). Usable without a ROS master
when given a PID: topic names are then checked against the node's own slave API
(found through its listening sockets).
"""
from ..errors import RostraceError
from ..model.breakdown import build_breakdown
from ..model.budget import Activity, BudgetGovernor, Costs, Overhead
from ..model.matching import TransportMatcher
from ..probes import calibrate as calibration
from ..probes.program import BpfProgram
from ..system import targets
from ..system.procfs import ProcFS
from ..system.sockets import SocketTable
from .attach import Attachments
from .collect import WindowCollector
from .connections import KernelConnections
from .naming import ObjectNames


NOTED_PUBLISHERS = 3        # untraced publishers a breakdown's note names
UNCALIBRATED_TRAP_NS = 2000.0   # one uprobe trap when start-up calibration was skipped


class Tracer:
    """Owns one compiled BPF program and the processes it is attached to."""

    def __init__(self, *, procfs=None, calibrate=True, cflags=()):
        self.procfs = procfs or ProcFS()
        self.probes = BpfProgram(cflags=cflags)
        self.calibration = None
        try:
            if calibrate:
                self.calibration = calibration.calibrate(self.probes)
        except BaseException:
            self.probes.close()
            raise
        self.names = ObjectNames(self.procfs)
        self.attachments = Attachments(self.probes, self.procfs, self.names)
        sockets = SocketTable(self.procfs)
        self.transport = TransportMatcher(sockets)
        self.connections = KernelConnections(self.probes, sockets, self.transport)
        self.transport.on_pair = self.connections.pair
        self.budgets = {}           # pid -> BudgetGovernor of the targets given a budget
        self._activity = {}         # pid -> procfs.activity() at the last window
        self._measured_in = {}      # pid -> the budget mode of the last window
        self.attachments.on_forget += [self.connections.forget, sockets.forget,
                                       self.transport.forget, self._forget_budget]
        self.attachments.on_subscriber.append(self.transport.subscriber_added)
        self.collector = WindowCollector(self.probes, self.attachments, self.names,
                                         self.transport, connections=self.connections)

    @property
    def probe_cost_us(self):
        return self.calibration.pair_ns / 1000.0 if self.calibration else 0.0

    @property
    def targets(self):
        """pid -> TargetProcess of the traced subscribers."""
        return self.attachments.subscribers

    @property
    def publisher_targets(self):
        """pid -> TargetProcess of the publishers traced for them."""
        return self.attachments.publishers

    @property
    def publisher_notes(self):
        return self.attachments.publisher_notes

    @property
    def last_window_s(self):
        return self.collector.last_window_s

    # -- attaching ----------------------------------------------------------------------
    def attach_node(self, node, *, master, audit=False):
        target = targets.resolve_node(node, master=master, procfs=self.procfs)
        self.attach_target(target, audit=audit)
        self.follow_publishers(master)
        return target

    def attach_pid(self, pid, *, node='', audit=False):
        return self.attach_target(targets.target_of_pid(pid, node=node, procfs=self.procfs),
                                  audit=audit)

    def attach_target(self, target, *, audit=False):
        if not self.attachments.subscribers and not self.collector.last_window_s:
            self.collector.restart()                                # the first window
        return self.attachments.attach_subscriber(target, audit=audit)

    def attach_publisher(self, target):
        self.attachments.attach_publisher(target)

    def follow_publishers(self, master, *, deadline=None):
        self.attachments.follow_publishers(master, deadline=deadline)

    def set_budget(self, pid, cpu_percent):
        """An overhead budget (percent of one core) for attached subscriber `pid`:
        each window rostrace estimates its cost there and steps its probes down or up
        (model/budget.py)."""
        if pid not in self.attachments.subscribers:
            raise RostraceError(f'pid {pid} is not traced: no budget to set')
        self.budgets[pid] = BudgetGovernor(cpu_percent)
        self._activity[pid] = self.procfs.activity(pid)
        self.probes.handler_costs()             # the kernel times the handlers from now

    def _forget_budget(self, pid):
        self.budgets.pop(pid, None)
        self._activity.pop(pid, None)
        self._measured_in.pop(pid, None)

    def _govern(self, window):
        """Every budgeted target's mode for the next window, from this one."""
        if not self.budgets:
            return
        trap_ns = self.calibration.pair_ns / 2 if self.calibration else UNCALIBRATED_TRAP_NS
        costs = Costs(trap_ns=trap_ns, handler_ns=self.probes.handler_costs())
        for pid, governor in list(self.budgets.items()):
            target = self.attachments.subscribers.get(pid)
            try:
                now = self.procfs.activity(pid)
            except RostraceError:
                continue                            # gone: the next attach pass forgets it
            before, self._activity[pid] = self._activity.get(pid, now), now
            activity = Activity(window_s=window.window_s,
                                wakeups=now[0] - before[0],
                                switches=now[0] + now[1] - before[0] - before[1],
                                faults=now[2] - before[2])
            for key, numbers in window.topics.items():
                if key.pid == pid:
                    activity.received += numbers.received
                    activity.processed += numbers.processed
                    activity.dropped += numbers.dropped
            self._measured_in[pid] = self.probes.mode(pid)
            mode = governor.update(activity, costs)
            if target is not None and mode != self.probes.mode(pid):
                self.probes.set_mode(target, mode)

    def subscribed(self, pid):
        return self.attachments.subscribed(pid)

    def detach(self, pid):
        self.attachments.detach(pid)

    def detach_many(self, pids):
        self.attachments.detach_many(pids)

    def alive(self, target):
        """Same process as when it was resolved (PID and start time), not a zombie."""
        return self.attachments.alive(target)

    def close(self):
        self.attachments.close()

    # -- windows ------------------------------------------------------------------------
    def collect(self, *, now=None):
        """The Window (model.numbers) since the previous collect (and, for targets
        with an overhead budget, their probe mode for the next one)."""
        window = self.collector.collect(now=now)
        self._govern(window)
        return window

    def build(self, window, *, topics=None):
        """TopicBreakdowns of a Window; `topics` limits them to those names."""
        result = []
        note = self._transport_note()
        for key, numbers in sorted(window.topics.items()):
            target = self.attachments.subscribers.get(key.pid)
            if (topics and key.topic not in topics) or target is None:
                continue
            names = {k.publisher_pid: self.attachments.node_name(k.publisher_pid)
                     for k in numbers.links}
            result.append(build_breakdown(
                node=target.node, pid=key.pid, host=target.host, topic=key.topic,
                window_s=window.window_s, numbers=numbers, missing=target.missing,
                audited=key.pid in self.attachments.audited, publisher_names=names,
                transport_note=note, overhead=self.overhead(key.pid)))
        return result

    def overhead(self, pid):
        """The budget's state for a breakdown of `pid`, or None (no budget). The mode is
        the one this window was measured in."""
        governor = self.budgets.get(pid)
        if governor is None:
            return None
        return Overhead(mode=self._measured_in.get(pid, self.probes.mode(pid)),
                        budget_percent=governor.cpu_percent,
                        estimate_percent=governor.estimate_percent, reason=governor.reason)

    def _transport_note(self):
        notes = sorted(self.publisher_notes.items())
        text = '; '.join(f'publisher {node} not traced: {why}'
                         for node, why in notes[:NOTED_PUBLISHERS])
        if len(notes) > NOTED_PUBLISHERS:
            text += f'; and {len(notes) - NOTED_PUBLISHERS} more publishers not traced'
        return text

    def snapshot(self, *, topics=None, now=None):
        """TopicBreakdowns of the window since the previous snapshot."""
        return self.build(self.collect(now=now), topics=topics)
