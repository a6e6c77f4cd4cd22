"""TCP connections whose messages the kernel matches itself (probes/bpf/transport.c).

Both ends of a connection between a traced publisher and a traced subscriber are found
in /proc (discover(): the subscriber's local address is the publisher's remote one) and
registered in the kernel before their first message, so paths (paths.c) follow every
message; the user-space matcher (model/matching.py) hands over what discovery missed
once it has matched a message on it. Discovery lists a process's sockets every
window for DISCOVER_NEW_S after it was first seen, then every DISCOVER_EVERY_S. Each window the registered ends are checked against /proc: an fd that
now names another socket (closed and reused) or a process that left is unregistered,
and its messages go back to the user-space matcher.
"""


import time

from ..errors import ProcessGone

DISCOVER_NEW_S = 10.0
DISCOVER_EVERY_S = 2.0


class KernelConnections:
    def __init__(self, program, sockets, matcher, clock=time.monotonic):
        self.program = program
        self.sockets = sockets          # SocketTable: (pid, fd) -> (local, remote) or None
        self.matcher = matcher
        self.clock = clock
        self._ends = {}                 # connection -> (subscriber end, publisher end)
        self._scans = {}                # pid -> (first seen, last listed)

    def discover(self, subscribers, publishers):
        """Register the connections between traced publishers and subscriber pids
        (a rospy subscriber's socket state is its own: engine/rospy.py keeps it)."""
        rospy = {pid for pid, t in subscribers.items() if getattr(t, 'client', '') == 'rospy'}
        now = self.clock()
        listed = {}
        for pid in set(subscribers) | set(publishers):
            first, last = self._scans.get(pid, (now, None))
            due = last is None or now - first < DISCOVER_NEW_S or now - last >= DISCOVER_EVERY_S
            if not due:
                continue
            self._scans[pid] = (first, now)
            try:
                listed[pid] = self.sockets.connections_of(pid)
            except (ProcessGone, OSError):
                continue
        if not listed:
            return
        ends = {}
        for pid in publishers:
            for fd, (local, remote) in (listed.get(pid) or {}).items():
                ends[local, remote] = (pid, fd)
        for pid in subscribers:
            for fd, connection in (listed.get(pid) or {}).items():
                publisher = ends.get((connection[1], connection[0]))
                if publisher is not None and publisher[0] != pid:
                    self.pair((pid, fd), publisher, connection, own_state=pid in rospy)

    def pair(self, subscriber, publisher, connection, *, own_state=False):
        """Both ends of `connection` (the subscriber's (local, remote) addresses),
        (pid, fd) each, as discovery or the matcher found them; `own_state`: the
        subscriber's socket state is kept by someone else (rospy)."""
        if self._ends.get(connection) == (subscriber, publisher):
            return
        old = self._ends.pop(connection, None)
        if old is not None:
            self.program.tables.connections.unregister(*old, connection)
        self.program.tables.connections.register(subscriber, publisher, connection,
                                                 own_state=own_state)
        self._ends[connection] = (subscriber, publisher)

    def check(self):
        """Unregister the connections an fd of which no longer names them."""
        for connection, (sub, pub) in list(self._ends.items()):
            local, remote = connection[1], connection[0]      # the publisher's view
            if (self.sockets(*sub) != connection or self.sockets(*pub) != (local, remote)):
                self._drop(connection)

    def forget(self, pid):
        self._scans.pop(pid, None)
        for connection, ends in list(self._ends.items()):
            if pid in (ends[0][0], ends[1][0]):
                self._drop(connection)

    def _drop(self, connection):
        self.program.tables.connections.unregister(*self._ends.pop(connection), connection)
        self.matcher.unpair(connection)

    def __len__(self):
        return len(self._ends)
