"""Library API: attach to roscpp processes, take per-window snapshots, detach.

A thin front over the parts that do the work, so the CLI, the monitor and the
benchmarks read the same: Attachments (who carries which probes), ObjectNames (which
topic a kernel object is), WindowCollector (one window of numbers, with the transport
matcher) and model.breakdown (numbers -> TopicBreakdown). Usable without a ROS master
when given a PID: topic names are then checked against the node's own slave API
(found through its listening sockets).
"""
from ..model.breakdown import ROSPY_MISSING, build_breakdown
from ..model.matching import TransportMatcher
from ..model.metrics import Names
from ..model.numbers import TopicKey, TopicNumbers
from ..probes import calibrate as calibration
from ..probes.program import BpfProgram
from ..system import targets
from ..system.procfs import ProcFS
from ..system.sockets import SocketTable
from .actions import Actions
from .attach import Attachments
from .budgets import Budgets
from .collect import WindowCollector
from .connections import KernelConnections
from .naming import ObjectNames
from .nodelets import Nodelets
from .remote import RemoteLinks
from .rospy import RospySubscribers
from .services import Services
from .tf import TfLookups
from .timers import Timers


NOTED_PUBLISHERS = 3        # untraced publishers a breakdown's note names


class Tracer:
    """Owns one compiled BPF program and the processes it is attached to."""

    def __init__(self, *, procfs=None, calibrate=True, cflags=(), match_in_kernel=True):
        """`match_in_kernel=False`: no connection is handed to the kernel (engine/
        connections.py), every message crosses the event stream to the user-space
        matcher -- the path of connections discovery missed, tested on its own."""
        self.procfs = procfs or ProcFS()
        self.match_in_kernel = match_in_kernel
        self.probes = BpfProgram(cflags=cflags)
        # What the kernel's missing tracepoints disable, as missing points (breakdown.py).
        self._no_tracepoints = {f'tracepoint:{t.name}': t.reason
                                for t in self.probes.missing_tracepoints}
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
        if match_in_kernel:
            self.transport.on_pair = self.connections.pair
        self.budgets = Budgets(self.probes, self.attachments, self.procfs, self.calibration)
        self.attachments.on_forget += [self.connections.forget, sockets.forget,
                                       self.transport.forget, self.budgets.forget]
        self.attachments.on_subscriber.append(self.transport.subscriber_added)
        self.nodelets = Nodelets(self.procfs, self.probes)
        self.attachments.on_forget.append(self.nodelets.forget)
        self.collector = WindowCollector(self.probes, self.attachments, self.names,
                                         self.transport,
                                         connections=self.connections if match_in_kernel
                                         else None,
                                         nodelets=self.nodelets)
        self.attachments.on_forget.append(self.collector.forget)
        self.timers = Timers(self.procfs, self.attachments)
        self.services = Services(self.procfs, self.attachments, self.probes.tables)
        self.tf = TfLookups(self.probes, self.attachments, self.procfs)
        self.actions = Actions(self.probes, self.attachments, self.names)
        self.attachments.on_forget += [self.timers.forget, self.services.forget,
                                       self.tf.forget, self.actions.forget]
        self.rospy = RospySubscribers(self.probes, sockets)
        self.attachments.rospy = self.names.rospy = self.rospy
        self.attachments.on_forget.append(self.rospy.forget)

    def enable_remote(self, host):
        """Links across hosts (one monitor per host): returns the RemoteLinks that the
        monitors' exchange (monitor/peers.py) feeds and drains."""
        remote = RemoteLinks(host, self.attachments.node_name)
        self.transport.remote = remote
        self.collector.remote = remote
        self.attachments.remote = remote
        self.attachments.on_forget.append(remote.forget)
        return remote

    def metric_names(self):
        """How /metrics names a Window's objects (model.metrics.Names)."""
        subscribers = self.attachments.subscribers
        return Names(node=lambda pid: subscribers[pid].node if pid in subscribers else None,
                     process=self.attachments.node_name,
                     timer=lambda key: self.timers.describe(key.pid, key.timer)[0],
                     service=self.services.name)

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
        target = self.attachments.attach_subscriber(target, audit=audit)
        if target.client == 'rospy':
            target.missing.update(ROSPY_MISSING)
            return target
        self.nodelets.attached(target)
        self.tf.attached(target)
        self.actions.attached(target)
        return target

    def attach_publisher(self, target):
        self.attachments.attach_publisher(target)

    def follow_publishers(self, master, *, deadline=None, resolve=None):
        before = set(self.attachments.publishers)
        self.attachments.follow_publishers(master, deadline=deadline, resolve=resolve)
        if self.match_in_kernel and set(self.attachments.publishers) - before:
            # their connections, at once
            self.connections.discover(self.attachments.subscribers,
                                      self.attachments.publishers)

    def set_budget(self, pid, cpu_percent):
        """An overhead budget (percent of one core) for attached subscriber `pid`:
        each window rostrace estimates its cost there and steps its probes down or up
        (model/budget.py)."""
        self.budgets.set(pid, cpu_percent)

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
        self.budgets.close()
        self.rospy.close()
        self.attachments.close()

    # -- windows ------------------------------------------------------------------------
    def collect(self, *, now=None):
        """The Window (model.numbers) since the previous collect (and, for targets
        with an overhead budget, their probe mode for the next one)."""
        self.budgets.counters.ask()
        window = self.collector.collect(now=now)
        self.tf.resolve(window)
        self._add_node_counts(window)
        for (pid, fd), n in self.rospy.update().items():
            topic = self.rospy.topic(pid, fd)
            numbers = topic and window.topics.get(TopicKey(pid, topic))
            if numbers:             # rospy counted them received and processed
                numbers.dropped += n
                numbers.processed = max(0, numbers.processed - n)
        window.actions = self.actions.collect()
        self.budgets.govern(window)
        return window

    def _add_node_counts(self, window):
        """Received and dropped of the nodes counted by their own statistics (the
        budget's `stats` mode), into their topics' numbers."""
        counted = {pid: topics for pid, topics in self.budgets.counters.take().items()
                   if pid in self.attachments.subscribers}
        if not counted:
            return
        keys = {(k.pid, k.topic): k for k in window.topics if k.pid in counted}
        for pid, topics in counted.items():
            for topic, counts in topics.items():
                key = keys.get((pid, topic), TopicKey(pid, topic))
                numbers = window.topics.setdefault(key, TopicNumbers())
                numbers.received += counts.received
                numbers.dropped += counts.dropped

    def build(self, window, *, topics=None):
        """TopicBreakdowns of a Window; `topics` limits them to those names."""
        result = []
        note = self._transport_note()
        tf_frames = self._tf_wait_frames() if self.tf.traced else {}
        rospy_publishers = {pid for pid, t in self.attachments.publishers.items()
                            if t.client == 'rospy'}
        for key, numbers in sorted(window.topics.items()):
            target = self.attachments.subscribers.get(key.pid)
            if (topics and key.topic not in topics) or target is None:
                continue
            names = {k.publisher_pid: self.attachments.node_name(k.publisher_pid)
                     for k in numbers.links}
            result.append(build_breakdown(
                node=target.node, pid=key.pid, host=target.host, topic=key.topic,
                nodelet=key.nodelet,
                window_s=window.window_s, numbers=numbers,
                missing={**target.missing, **self._no_tracepoints},
                audited=key.pid in self.attachments.audited, publisher_names=names,
                transport_note=self._rospy_note(key.pid, note),
                overhead=self.budgets.overhead(key.pid),
                tf=key.pid in self.tf.traced, tf_wait_frames=tf_frames.get((key.pid, key.topic), ()),
                rospy_publishers=rospy_publishers, client=target.client))
        return result

    def _rospy_note(self, pid, note):
        """`note`, and why a rospy node's connections are not followed (its slave API's
        last refused answer), if they are not."""
        error = self.rospy.errors.get(pid)
        if not error:
            return note
        return '; '.join(filter(None, [f'rospy connections not followed: {error}'[:300],
                                       note]))

    def _tf_wait_frames(self):
        """{(pid, topic): (target, source)} of the latest TF wait in a topic's callbacks."""
        out = {}
        for (pid, queue), frames in self.tf.queue_pairs().items():
            target = self.attachments.subscribers.get(pid)
            topic = target and self.names.topic('queue', target, queue)
            if topic:
                out[pid, topic] = frames
        return out

    def build_actions(self, window):
        """ActionBreakdowns of a Window's actions."""
        return self.actions.build(window)

    def build_tf(self, window):
        """TfBreakdowns of a Window's tf2 frame pairs."""
        return self.tf.build(window)

    def build_timers(self, window):
        """TimerBreakdowns of a Window's timers."""
        return self.timers.build(window)

    def build_services(self, window):
        """ServiceBreakdowns of a Window's services."""
        return self.services.build(window)

    def _transport_note(self):
        notes = sorted(self.publisher_notes.items())
        text = '; '.join(f'publisher {node} not traced: {why}'
                         for node, why in notes[:NOTED_PUBLISHERS])
        if len(notes) > NOTED_PUBLISHERS:
            text += f'; and {len(notes) - NOTED_PUBLISHERS} more publishers not traced'
        blind = [f'{t.reason}: {t.without}' for t in self.probes.missing_tracepoints
                 if t.name in ('recvfrom', 'sendto')]
        return '; '.join(blind + ([text] if text else []))

    def snapshot(self, *, topics=None, now=None):
        """TopicBreakdowns of the window since the previous snapshot."""
        return self.build(self.collect(now=now), topics=topics)
