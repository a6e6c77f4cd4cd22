"""Which TCP connection a process's socket fd is, from /proc (cached: asked per message)."""
import time

RECHECK_S = 2.0             # how long a socket's (fd -> connection) answer is trusted
UNRESOLVED_RECHECK_S = 0.1      # a socket found in no TCP table: asked again after this ...
YOUNG_S = 1.0                   # ... while it is this new (socket() before connect()) ...
SETTLED_RECHECK_S = 2.0         # ... then at most this often (listening and unix sockets
                                # of every node: the table was parsed every window)
ABSENT_KEPT = 100000            # inodes remembered as in no table (then forgotten at once)


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
        self._absent = {}       # (namespace, inode) -> first found in no table

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
        socket; or one not connected yet). Such a socket has the table parsed again only
        while it is new (YOUNG_S), then every SETTLED_RECHECK_S."""
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
        if inode in table:
            return table[inode]
        if len(self._absent) > ABSENT_KEPT:
            self._absent.clear()
        first = self._absent.setdefault((namespace, inode), now)
        after = UNRESOLVED_RECHECK_S if now - first < YOUNG_S else SETTLED_RECHECK_S
        if parsed_at is None or now - parsed_at > after:
            table = self.procfs.tcp_connections(pid)
            self._tables[namespace] = (now, table)
            if inode in table:
                self._absent.pop((namespace, inode), None)   # (another thread's lookup
                                                             # may have taken it)
        return table.get(inode)

    def forget(self, pid):
        self._cache = {k: v for k, v in self._cache.items() if k[0] != pid}
        self._listed.pop(pid, None)
        namespace = self._namespace.pop(pid, None)
        if namespace not in self._namespace.values():
            self._tables.pop(namespace, None)
            self._absent = {k: t for k, t in self._absent.items() if k[0] != namespace}
