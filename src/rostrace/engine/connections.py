"""TCP connections whose messages the kernel matches itself (probes/bpf/transport.c).

The user-space matcher (model/matching.py) pairs the first messages of a connection;
once it has seen both ends it hands the connection here, and this registers both ends
in the kernel. Each window the registered ends are checked against /proc: an fd that
now names another socket (closed and reused) or a process that left is unregistered,
and its messages go back to the user-space matcher.
"""


class KernelConnections:
    def __init__(self, program, sockets, matcher):
        self.program = program
        self.sockets = sockets          # (pid, fd) -> (local, remote) or None
        self.matcher = matcher
        self._ends = {}                 # connection -> (subscriber end, publisher end)

    def pair(self, subscriber, publisher, connection):
        """Both ends of `connection` (the subscriber's (local, remote) addresses),
        (pid, fd) each, as the matcher found them."""
        old = self._ends.pop(connection, None)
        if old is not None:
            self.program.tables.connections.unregister(*old, connection)
        self.program.tables.connections.register(subscriber, publisher, connection)
        self._ends[connection] = (subscriber, publisher)

    def check(self):
        """Unregister the connections an fd of which no longer names them."""
        for connection, (sub, pub) in list(self._ends.items()):
            local, remote = connection[1], connection[0]      # the publisher's view
            if (self.sockets(*sub) != connection or self.sockets(*pub) != (local, remote)):
                self._drop(connection)

    def forget(self, pid):
        for connection, ends in list(self._ends.items()):
            if pid in (ends[0][0], ends[1][0]):
                self._drop(connection)

    def _drop(self, connection):
        self.program.tables.connections.unregister(*self._ends.pop(connection), connection)
        self.matcher.unpair(connection)

    def __len__(self):
        return len(self._ends)
