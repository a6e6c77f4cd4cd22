"""Nodelets: which nodelet of a manager process subscribed a topic.

A nodelet manager runs each nodelet's callbacks from that nodelet's own queues
(nodelet::detail::CallbackQueue). The kernel maps a subscription queue to the nodelet
queue it feeds, seen once at addCallback (probes/bpf/nodelets.c); the nodelet queue keeps
a weak pointer to its Nodelet (tracked_object_), whose name (nodelet_name_) is read from
the manager's memory, untrusted: lengths capped, the name must read as a graph name.

addCallback runs once per message, so its probe stays in a manager only while a queue
there is neither mapped nor known not to be a nodelet's: a queue that received messages
for a whole window with the probe in and stayed unmapped is the manager's own (its bond,
its own NodeHandles). For the first GRACE_WINDOWS after attaching, a topic the manager
subscribes whose queue has not received yet keeps the probe in too (a topic nobody
publishes must not keep it for ever). A queue that appears later (a nodelet loaded later,
a topic first published later) brings the probe back; its first window is attributed to
the manager alone.
"""
import re
import struct

from ..errors import ProcessGone

NODELET_NAME_OFFSET = 16                # Nodelet: vptr, bool inited_, std::string nodelet_name_
TRACKED_OFFSETS = range(32, 1024, 8)    # CallbackQueue::tracked_object_ (360 in nodelet 1.10)
NAME_MAX = 256
HANDLER = 'on_nodelet_add_callback'
GRACE_WINDOWS = 5
_GRAPH_NAME = re.compile(r'/(?:[A-Za-z][A-Za-z0-9_]*/)*[A-Za-z][A-Za-z0-9_]*\Z')


class Nodelets:
    def __init__(self, procfs, program):
        self.procfs = procfs
        self.program = program
        self._managers = {}     # pid -> TargetProcess of a nodelet manager
        self._since = {}        # pid -> index of the window it was attached in
        self._learning = {}     # pid -> index of the window its probe went in
        self._windows = 0
        self._seen = {}         # pid -> queues seen
        self._not_nodelet = {}  # pid -> queues that received with the probe in, unmapped
        self._mapped = {}       # pid -> {queue: nodelet queue}, this window
        self._names = {}        # (pid, nodelet queue) -> name, this window
        self._offsets = {}      # nodelet library -> tracked_object_ offset

    def attached(self, target):
        """A traced subscriber: the probe goes in if it is a nodelet manager."""
        if target.nodelet_point is not None:
            self._managers[target.pid] = target
            self._since[target.pid] = self._windows
            self._seen.setdefault(target.pid, set())
            self._not_nodelet.setdefault(target.pid, set())
            self._learn(target.pid, True)

    def forget(self, pid):
        for table in (self._managers, self._since, self._learning, self._seen,
                      self._not_nodelet, self._mapped):
            table.pop(pid, None)
        self._names = {k: v for k, v in self._names.items() if k[0] != pid}

    def update(self, rows, topic_of, subscribed):
        """Once per window, before names are asked: `rows` are the window's
        (pid, queue, TopicNumbers), topic_of(pid, queue) a queue's topic (or None),
        subscribed(pid) the topics the process reports. Settles queues and puts the
        probe in or out."""
        self._windows += 1
        self._names = {}
        for pid in self._managers:
            self._mapped[pid] = self.program.tables.nodelet_queues(pid)
        whole_window = {pid for pid, since in self._learning.items() if since < self._windows - 1}
        for pid, queue, numbers in rows:
            if pid not in self._managers:
                continue
            self._seen[pid].add(queue)
            if (pid in whole_window and queue not in self._mapped[pid]
                    and numbers.received > numbers.dropped):
                self._not_nodelet[pid].add(queue)
        for pid in self._managers:
            unsettled = self._seen[pid] - set(self._mapped[pid]) - self._not_nodelet[pid]
            if self._windows - self._since[pid] <= GRACE_WINDOWS:
                heard = {topic_of(pid, queue) for queue in self._seen[pid]}
                unsettled |= set(subscribed(pid)) - heard
            if bool(unsettled) != (pid in self._learning):
                self._learn(pid, bool(unsettled))

    def name(self, pid, queue):
        """The nodelet that subscribed queue `queue` of `pid`, '' when none or unknown."""
        nodelet_queue = self._mapped.get(pid, {}).get(queue)
        if nodelet_queue is None:
            return ''
        key = (pid, nodelet_queue)
        if key not in self._names:
            self._names[key] = self._read_name(pid, nodelet_queue) or ''
        return self._names[key]

    def learning(self, pid):
        return pid in self._learning

    def _learn(self, pid, on):
        target = self._managers[pid]
        if on:
            point = target.nodelet_point
            try:
                self.program.uprobes.add(pid, point.path, point.address, HANDLER)
            except Exception:       # gone meanwhile; else tried again next window
                return
            self._learning[pid] = self._windows
        else:
            self.program.uprobes.remove_handler(pid, HANDLER)
            self._learning.pop(pid, None)

    def _read_name(self, pid, nodelet_queue):
        library = self._managers[pid].nodelet_point.path
        known = self._offsets.get(library)
        for offset in ([known] if known is not None else TRACKED_OFFSETS):
            try:
                name = self._name_at(pid, nodelet_queue + offset)
            except ProcessGone:
                return None
            if name is not None:
                self._offsets[library] = offset
                return name
        return None

    def _name_at(self, pid, address):
        """The nodelet name behind a tracked_object_ candidate at `address` (weak_ptr:
        object, control block; then has_tracked_object_ == 1), or None."""
        raw = self.procfs.read_memory(pid, address, 17)
        if len(raw) != 17 or raw[16] != 1:
            return None
        nodelet, control = struct.unpack('<QQ', raw[:16])
        if not nodelet or not control:
            return None
        raw = self.procfs.read_memory(pid, nodelet + NODELET_NAME_OFFSET, 16)
        if len(raw) != 16:
            return None
        data, length = struct.unpack('<QQ', raw)
        if not 0 < length <= NAME_MAX or not data:
            return None
        text = self.procfs.read_memory(pid, data, length)
        try:
            name = text.decode('ascii')
        except UnicodeDecodeError:
            return None
        return name if len(text) == length and _GRAPH_NAME.match(name) else None
