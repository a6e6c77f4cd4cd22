"""SocketTable: (pid, fd) -> TCP connection, one parsed table per network namespace."""
from rostrace.system.sockets import (SETTLED_RECHECK_S, UNRESOLVED_RECHECK_S, YOUNG_S,
                                     SocketTable)

A = (('127.0.0.1', 40000), ('127.0.0.1', 50000))
B = (('127.0.0.1', 40001), ('127.0.0.1', 50000))


class Procfs:
    """What SocketTable reads of /proc: fds -> socket inodes, namespaces, tcp tables."""

    def __init__(self):
        self.fds = {(1, 5): 100, (2, 7): 200, (3, 9): 300}
        self.namespaces = {1: 4026531840, 2: 4026531840, 3: 4026532000}
        self.tables = {4026531840: {100: A, 200: B}, 4026532000: {300: A}}
        self.parsed = []

    def socket_inode(self, pid, fd):
        return self.fds.get((pid, fd))

    def net_namespace(self, pid):
        return self.namespaces.get(pid)

    def tcp_connections(self, pid):
        self.parsed.append(pid)
        return dict(self.tables[self.namespaces[pid]])


def test_processes_of_one_namespace_share_one_parsed_table():
    procfs = Procfs()
    table = SocketTable(procfs, clock=lambda: 0.0)
    assert (table(1, 5), table(2, 7), table(3, 9)) == (A, B, A)
    assert procfs.parsed == [1, 3]              # one parse per namespace, not per process


def test_a_forgotten_process_keeps_its_neighbours_table():
    procfs = Procfs()
    table = SocketTable(procfs, clock=lambda: 0.0)
    table(1, 5)
    table(2, 7)
    table.forget(1)
    procfs.fds[(2, 8)] = 200                    # a new fd of process 2: the same table
    assert table(2, 8) == B
    assert procfs.parsed == [1]
    table.forget(2)
    table(1, 5)                                 # nobody left in it: parsed again
    assert procfs.parsed == [1, 1]


class ListingProcfs(Procfs):
    def socket_fds(self, pid):
        return {fd: inode for (p, fd), inode in self.fds.items() if p == pid}


def test_an_unchanged_set_of_sockets_is_not_parsed_again():
    procfs, now = ListingProcfs(), [0.0]
    procfs.fds[(1, 6)] = 999                    # a unix socket: in no TCP table
    table = SocketTable(procfs, clock=lambda: now[0])
    assert table.connections_of(1) == {5: A}
    now[0] = UNRESOLVED_RECHECK_S / 2
    procfs.tables[4026531840][999] = B          # it is not asked again yet ...
    assert table.connections_of(1) == {5: A} and procfs.parsed == [1]
    now[0] = UNRESOLVED_RECHECK_S * 2           # ... but after UNRESOLVED_RECHECK_S
    assert table.connections_of(1) == {5: A, 6: B} and procfs.parsed == [1, 1]
    now[0] = 100.0                              # all resolved: the same fds stand
    assert table.connections_of(1) == {5: A, 6: B} and procfs.parsed == [1, 1]
    procfs.fds[(1, 7)] = 200                    # a new fd: listed again
    procfs.tables[4026531840][200] = B
    assert table.connections_of(1) == {5: A, 6: B, 7: B}


def test_a_socket_in_no_table_has_it_parsed_often_only_while_new():
    procfs, now = ListingProcfs(), [0.0]
    procfs.fds[(1, 6)] = 999                    # a listening or unix socket
    table = SocketTable(procfs, clock=lambda: now[0])
    for step in range(1, 100):                  # every window (0.1 s) for ~10 s
        now[0] = step * UNRESOLVED_RECHECK_S * 1.01
        assert table.connections_of(1) == {5: A}
    young = YOUNG_S / UNRESOLVED_RECHECK_S
    assert len(procfs.parsed) <= young + 1 + now[0] / SETTLED_RECHECK_S + 1
    procfs.fds[(1, 7)] = 998                    # a new socket connects a moment later:
    table.connections_of(1)
    procfs.tables[4026531840][998] = B
    now[0] += UNRESOLVED_RECHECK_S * 1.01       # found at the next window
    assert table.connections_of(1) == {5: A, 7: B}
