"""Which TCP connection a process's socket fd is, from /proc (cached: asked per message)."""
import time

RECHECK_S = 2.0             # how long a socket's (fd -> connection) answer is trusted
UNRESOLVED_RECHECK_S = 0.1      # connections_of() with sockets that were no TCP connection


class SocketTable:
    """(pid, fd) -> (local, remote) address pairs of TCP connections, cached.

    An fd's socket inode is re-read at most every RECHECK_S (fds get reused); the
    namespace's connection table is parsed once and re-parsed only for an inode it
    does not hold yet (a node with 1000 connections parses it once, not 1000 times).
    Processes in one network namespace share its table (100 nodes on one host: one
    table, not 100 copies).
    """

    def __init__(self, procfs, clock=time.monotonic):
        self.procfs = procfs
        self.clock = clock
        self._cache = {}        # (pid, fd) -> (inode, connection, checked_at)
        self._tables = {}       # namespace -> (parsed_at, {inode: connection})
        self._namespace = {}    # pid -> its network namespace (or ('pid', pid))
        self._listed = {}       # pid -> last connections_of(): (fds, answer, unresolved, at)

    def __call__(self, pid, fd):
        now = self.clock()
        cached = self._cache.get((pid, fd))
        if cached and now - cached[2] < RECHECK_S:
            return cached[1]
        inode = self.procfs.socket_inode(pid, fd)
        connection = None
        if cached and inode == cached[0] and cached[1] is not None:
            connection = cached[1]
        elif inode is not None:
            connection = self._lookup(pid, inode, now)
        self._cache[(pid, fd)] = (inode, connection, now)
        return connection

    def connections_of(self, pid):
        """{fd: (local, remote)} of every TCP connection `pid` holds now. Listing a
        process's fds is cheap, the connection table is not (the kernel walks the whole
        TCP hash table for every read of /proc/PID/net/tcp: 20 % of the monitor's CPU at
        100 topics): while the (fd, inode) pairs are those of the last answer, it stands
        -- for UNRESOLVED_RECHECK_S where some socket was no TCP connection then (a unix
        socket; or one not connected yet)."""
        now = self.clock()
        fds = self.procfs.socket_fds(pid)
        key = frozenset(fds.items())
        last = self._listed.get(pid)
        if last is not None and last[0] == key and (
                not last[2] or now - last[3] < UNRESOLVED_RECHECK_S):
            return dict(last[1])
        out = {}
        for fd, inode in fds.items():
            connection = self._lookup(pid, inode, now)
            if connection is not None:
                self._cache[(pid, fd)] = (inode, connection, now)
                out[fd] = connection
        self._listed[pid] = (key, out, len(out) < len(fds), now)
        return dict(out)

    def _lookup(self, pid, inode, now):
        if pid not in self._namespace:
            self._namespace[pid] = self.procfs.net_namespace(pid) or ('pid', pid)
        namespace = self._namespace[pid]
        parsed_at, table = self._tables.get(namespace, (None, {}))
        if inode not in table and (parsed_at is None or now - parsed_at > 0.1):
            table = self.procfs.tcp_connections(pid)
            self._tables[namespace] = (now, table)
        return table.get(inode)

    def forget(self, pid):
        self._cache = {k: v for k, v in self._cache.items() if k[0] != pid}
        self._listed.pop(pid, None)
        namespace = self._namespace.pop(pid, None)
        if namespace not in self._namespace.values():
            self._tables.pop(namespace, None)
