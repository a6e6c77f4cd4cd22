"""Parse /proc text (pure functions) and read it under a configurable procfs root.

Every OS error of a /proc read is translated in one place (`ProcFS.errors`): the
process is gone only when /proc/PID itself is gone; a file this kernel or process
does not have (no IPv6 table) is ProcEntryMissing; EACCES is NotPrivileged.
"""
import contextlib
import ipaddress
import os
from dataclasses import dataclass

from ..errors import NotPrivileged, ProcEntryMissing, ProcessGone

TCP_LISTEN = '0A'
TCP_ESTABLISHED = '01'
PF_EXITING = 0x4                # include/linux/sched.h


@dataclass(frozen=True)
class Mapping:
    start: int
    end: int
    perms: str
    offset: int
    inode: int
    path: str


def parse_maps(text):
    """Lines of /proc/PID/maps -> [Mapping] (anonymous mappings skipped)."""
    maps = []
    for line in text.splitlines():
        parts = line.split(None, 5)
        if len(parts) < 6 or not parts[5].startswith('/'):
            continue
        start, end = (int(x, 16) for x in parts[0].split('-'))
        maps.append(Mapping(start, end, parts[1], int(parts[2], 16), int(parts[4]),
                            parts[5].strip()))
    return maps


def parse_nspid(status_text):
    """NSpid of /proc/PID/status -> [host pid, ..., innermost pid] or None."""
    for line in status_text.splitlines():
        if line.startswith('NSpid:'):
            return [int(x) for x in line.split()[1:]]
    return None


def parse_listening(net_tcp_text):
    """{(port, socket inode)} of the listening sockets in /proc/PID/net/tcp{,6} text."""
    found = set()
    for line in net_tcp_text.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 10 and fields[3] == TCP_LISTEN:
            found.add((int(fields[1].rsplit(':', 1)[1], 16), int(fields[9])))
    return found


def parse_address(text):
    """'0100007F:1F90' (or the 32-hex-digit IPv6 form) of /proc/net/tcp{,6} ->
    (ip string, port); IPv4-mapped IPv6 addresses read as IPv4."""
    hex_ip, hex_port = text.rsplit(':', 1)
    raw = bytes.fromhex(hex_ip)
    # The kernel prints the address as 32-bit words in host (little-endian) order.
    raw = b''.join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return canonical_ip(ipaddress.ip_address(raw)), int(hex_port, 16)


def canonical_ip(ip):
    """An address as rostrace compares them: IPv4-mapped IPv6 addresses read as IPv4."""
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return str(ip)


def parse_connections(net_tcp_text):
    """{socket inode: (local (ip, port), remote (ip, port))} of non-listening sockets."""
    found = {}
    for line in net_tcp_text.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 10 and fields[3] != TCP_LISTEN:
            inode = int(fields[9])
            if inode:
                found[inode] = (parse_address(fields[1]), parse_address(fields[2]))
    return found


def parse_connection_inode(net_tcp_text, local, remote):
    """Inode of the socket with this (local, remote) address pair in /proc/PID/net/tcp{,6}
    text: 0 while the connection waits in its listener's accept queue, -1 once its owner
    has closed it, None if absent."""
    for line in net_tcp_text.splitlines()[1:]:
        fields = line.split()
        if (len(fields) >= 10 and fields[3] != TCP_LISTEN
                and parse_address(fields[1]) == local and parse_address(fields[2]) == remote):
            inode = int(fields[9])
            return inode if inode or fields[3] == TCP_ESTABLISHED else -1
    return None


def parse_stat(stat_text):
    """(state letter, kernel flags, start time in clock ticks since boot) of
    /proc/PID/stat text."""
    fields = stat_text[stat_text.rindex(')') + 2:].split()
    return fields[0], int(fields[6]), int(fields[19])


def parse_switches(status_text):
    """(voluntary, involuntary) context switches of /proc/PID/task/TID/status text."""
    found = {}
    for line in status_text.splitlines():
        key, _, value = line.partition(':')
        if key in ('voluntary_ctxt_switches', 'nonvoluntary_ctxt_switches'):
            found[key] = int(value)
    return found.get('voluntary_ctxt_switches', 0), found.get('nonvoluntary_ctxt_switches', 0)


def parse_faults(stat_text):
    """Minor + major page faults of /proc/PID/stat text (the whole process)."""
    fields = stat_text[stat_text.rindex(')') + 2:].split()
    return int(fields[7]) + int(fields[9])


class ProcFS:
    """Reads /proc for one machine; `root` lets tests point it at fixture files."""

    def __init__(self, root='/proc'):
        self.root = root

    def path(self, pid, *parts):
        return os.path.join(self.root, str(pid), *parts)

    @contextlib.contextmanager
    def errors(self, pid, what):
        """Translate the OS errors of reading `what` of process `pid`."""
        try:
            yield
        except ProcessLookupError:
            raise ProcessGone(pid) from None
        except FileNotFoundError:
            if not os.path.exists(self.path(pid)):
                raise ProcessGone(pid) from None
            raise ProcEntryMissing(f'{what} does not exist') from None
        except PermissionError:
            raise NotPrivileged(f'cannot read {what}', hint='run rostrace as root') from None

    def read(self, pid, *parts):
        path = self.path(pid, *parts)
        with self.errors(pid, path), open(path) as f:
            return f.read()

    def pids(self):
        return [int(d) for d in os.listdir(self.root) if d.isdigit()]

    def maps(self, pid):
        return parse_maps(self.read(pid, 'maps'))

    def nspid(self, pid):
        return parse_nspid(self.read(pid, 'status'))

    def comm(self, pid):
        return self.read(pid, 'comm').strip()

    def exe(self, pid):
        path = self.path(pid, 'exe')
        with self.errors(pid, path):
            return os.readlink(path)

    def alive(self, pid):
        return os.path.exists(self.path(pid, 'status'))

    def in_root(self, pid, path):
        """A path as the process sees it, reachable from here (containers too)."""
        return self.path(pid, 'root') + path

    def socket_inodes(self, pid):
        return set(self.socket_fds(pid).values())

    def socket_fds(self, pid):
        """{fd: socket inode} of `pid`."""
        out = {}
        fd_dir = self.path(pid, 'fd')
        with self.errors(pid, fd_dir):
            names = os.listdir(fd_dir)
        for name in names:
            try:
                link = os.readlink(os.path.join(fd_dir, name))
            except OSError:
                continue
            if link.startswith('socket:[') and name.isdigit():
                out[int(name)] = int(link[8:-1])
        return out

    def socket_inode(self, pid, fd):
        """Inode of the socket behind `fd` of `pid`, or None."""
        try:
            link = os.readlink(self.path(pid, 'fd', str(fd)))
        except OSError:
            return None
        return int(link[8:-1]) if link.startswith('socket:[') else None

    def net_namespace(self, pid):
        """The network namespace of `pid` (its inode), or None when it cannot be read."""
        try:
            link = os.readlink(self.path(pid, 'ns', 'net'))
        except OSError:
            return None
        return int(link[5:-1]) if link.startswith('net:[') else None

    def tcp_connections(self, pid):
        """{socket inode: (local (ip, port), remote (ip, port))} of the TCP connections
        in the network namespace of `pid` (IPv4 and IPv6)."""
        found = {}
        for table in ('tcp', 'tcp6'):
            try:
                found.update(parse_connections(self.read(pid, 'net', table)))
            except ProcEntryMissing:
                continue        # no such table (IPv6 off)
        return found

    def listening_ports(self, pid):
        """TCP ports on which process `pid` itself owns a listening socket."""
        listening = set()
        for table in ('tcp', 'tcp6'):
            try:
                listening |= parse_listening(self.read(pid, 'net', table))
            except ProcEntryMissing:
                continue        # no such table (IPv6 off)
        owned = self.socket_inodes(pid)
        return sorted({port for port, inode in listening if inode in owned})

    def read_memory(self, pid, address, size):
        """Bytes at `address` of `pid`, or b'' where nothing is mapped."""
        path = self.path(pid, 'mem')
        try:
            with self.errors(pid, path), open(path, 'rb') as f:
                f.seek(address)
                return f.read(size)
        except (OSError, ValueError, OverflowError, NotPrivileged):
            return b''

    def identity(self, pid):
        """What tells this process from a later one with the same PID: its start time.
        A zombie or dead process is gone."""
        state, _, start = parse_stat(self.read(pid, 'stat'))
        if state in ('Z', 'X', 'x'):
            raise ProcessGone(pid, f'process {pid} has exited (state {state})')
        return start

    def activity(self, pid):
        """(voluntary switches, involuntary switches, page faults) of process `pid` so far,
        all threads (a thread that exited takes its counts with it)."""
        voluntary = involuntary = 0
        task_dir = self.path(pid, 'task')
        with self.errors(pid, task_dir):
            tids = os.listdir(task_dir)
        for tid in tids:
            try:
                v, i = parse_switches(self.read(pid, 'task', tid, 'status'))
            except ProcEntryMissing:
                continue            # the thread exited meanwhile
            voluntary += v
            involuntary += i
        return voluntary, involuntary, parse_faults(self.read(pid, 'stat'))

    def exiting(self, pid):
        """True while process `pid` is in the middle of exiting (PF_EXITING, not yet a
        zombie): its memory is being torn down."""
        try:
            state, flags, _ = parse_stat(self.read(pid, 'stat'))
        except (ProcessGone, ProcEntryMissing):
            return False
        return bool(flags & PF_EXITING) and state not in ('Z', 'X', 'x')

    def pid_candidates(self, ns_pid):
        """Host PIDs that are `ns_pid` in their own innermost PID namespace."""
        candidates = []
        if self.alive(ns_pid):
            candidates.append(ns_pid)
        for pid in self.pids():
            if pid == ns_pid:
                continue
            try:
                chain = self.nspid(pid)
            except (ProcessGone, ProcEntryMissing, NotPrivileged):
                continue
            if chain and len(chain) > 1 and chain[-1] == ns_pid:
                candidates.append(pid)
        return candidates

    def connection_inode(self, pid, local, remote):
        """Inode of the TCP socket (local, remote) in the network namespace of `pid`
        (0: not accepted yet), or None when that namespace holds no such connection."""
        for table in ('tcp', 'tcp6'):
            try:
                inode = parse_connection_inode(self.read(pid, 'net', table), local, remote)
            except ProcEntryMissing:
                continue
            if inode is not None:
                return inode
        return None
