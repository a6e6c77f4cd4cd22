"""Links across hosts, the tracer's side: what our traced publishers sent to hosts that
run a monitor (batched for them), their batches matched with what our subscribers
received (model/remote.py), their clocks (model/clocksync.py), and what each peer
traces and wants traced.

Thread-safe where the ROS side calls in (monitor/peers.py runs rospy callbacks in
their own threads): those only queue; the tracer's thread does the work in collect().

Time base: every time leaving or entering here is this host's CLOCK_REALTIME in ns
(kernel CLOCK_MONOTONIC + the realtime - monotonic difference read each window), so a
peer's offset is the two hosts' wall clocks' difference, estimated from pings.
"""
import ctypes
import ipaddress
import platform
import threading
import time
from collections import deque
from typing import NamedTuple

from ..model.clocksync import OffsetEstimator
from ..model.remote import (ReceivedRecord, RemoteMatcher, SentRecord, address_text,
                            parse_address)

MAX_OUTBOX = 20000          # sent records per window for all peers (more: counted, cut)
MAX_INBOX = 64              # batches waiting for the tracer's thread
PEER_TIMEOUT_S = 10.0       # a monitor not heard from for this long is gone
MAX_NAMES = 256             # traced / wanted publishers a peer may announce
MAX_ADDRESSES = 64


class _Timespec(ctypes.Structure):
    _fields_ = [('tv_sec', ctypes.c_long), ('tv_nsec', ctypes.c_long)]


_CLOCK_GETTIME = {'x86_64': 228, 'aarch64': 113}.get(platform.machine())
_libc = ctypes.CDLL(None, use_errno=True)


def kernel_monotonic_ns():
    """The kernel's CLOCK_MONOTONIC (what bpf_ktime_get_ns reads) by the raw syscall: a
    time faker preloaded into the monitor (libfaketime) changes libc's answer, not this."""
    if _CLOCK_GETTIME is not None:
        ts = _Timespec()
        if _libc.syscall(_CLOCK_GETTIME, time.CLOCK_MONOTONIC, ctypes.byref(ts)) == 0:
            return ts.tv_sec * 10**9 + ts.tv_nsec
    return time.monotonic_ns()


def time_base_ns():
    """CLOCK_REALTIME - the kernel's CLOCK_MONOTONIC now (ns), from the tightest of three
    readings."""
    best = None
    for _ in range(3):
        m1 = kernel_monotonic_ns()
        r = time.clock_gettime_ns(time.CLOCK_REALTIME)
        m2 = kernel_monotonic_ns()
        if best is None or m2 - m1 < best[0]:
            best = (m2 - m1, r - (m1 + m2) // 2)
    return best[1]


def host_time_ns():
    return time.clock_gettime_ns(time.CLOCK_REALTIME)


def local_addresses(procfs_root='/proc'):
    """IP addresses of this network namespace (the monitor's): /proc/net/fib_trie's
    LOCAL entries and /proc/net/if_inet6, loopback left out."""
    found = set()
    try:
        with open(f'{procfs_root}/self/net/fib_trie') as f:
            last = None
            for line in f:
                text = line.strip()
                if text.startswith('|--'):
                    last = text[3:].strip()
                elif text.startswith('/32 host LOCAL') and last:
                    found.add(last)
    except OSError:
        pass
    try:
        with open(f'{procfs_root}/self/net/if_inet6') as f:
            for line in f:
                raw = line.split()[0]
                found.add(str(ipaddress.IPv6Address(int(raw, 16))))
    except (OSError, ValueError, IndexError):
        pass
    out = set()
    for ip in found:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            continue
        if not (addr.is_loopback or addr.is_link_local):
            out.add(str(addr))
    return frozenset(out)


class Peer(NamedTuple):
    host: str
    addresses: frozenset
    traced: frozenset           # publisher nodes it traces the publish side of
    wanted: frozenset           # publisher nodes its subscribers need from other hosts
    seen_at: float


def _names(values, limit=MAX_NAMES):
    return frozenset(v for v in list(values)[:limit]
                     if isinstance(v, str) and 0 < len(v) <= 256 and v.isprintable())


class RemoteLinks:
    """See the module's docstring. `node_of(pid)` names a traced process."""

    def __init__(self, host, node_of, *, addresses=local_addresses, clock=time.monotonic):
        self.host = host
        self.node_of = node_of
        self.clock = clock
        self._addresses = addresses
        self.own_addresses = addresses()
        self.matcher = RemoteMatcher()
        self.clocks = {}                # peer host -> OffsetEstimator
        self.peers = {}                 # monitor name -> Peer
        self._peer_ips = frozenset()
        self._lock = threading.Lock()
        self._inbox = deque(maxlen=MAX_INBOX)
        self._outbox = {}               # connection key -> [pid, dropped, [SentRecord]]
        self._outbox_size = 0
        self.cut = 0                    # sent records not sent to peers (bounds)
        self.refused = 0                # peer records that made no sense
        self.base_ns = time_base_ns()

    # -- from the matcher (tracer thread) ------------------------------------------------
    def is_peer(self, ip):
        return ip in self._peer_ips

    def sent(self, key, sent, dropped):
        entry = self._outbox.get(key)
        if entry is None:
            entry = self._outbox[key] = [sent.pid, 0, []]
        entry[1] += dropped
        if self._outbox_size >= MAX_OUTBOX:
            self.cut += 1
            return
        self._outbox_size += 1
        base = self.base_ns
        entry[2].append(SentRecord(sent.fingerprint,
                                   sent.t_publish + base if sent.t_publish else 0,
                                   sent.t_serialized + base, sent.t_sent + base))

    def received(self, key, ev):
        base = self.base_ns
        self.matcher.add_received(key, ReceivedRecord(
            (ev.fp.len, ev.fp.hash), ev.tgid, ev.object, ev.t_received + base,
            ev.t_done + base))

    # -- from the ROS side (any thread) -------------------------------------------------
    def peer_announced(self, monitor, host, addresses, traced, wanted):
        if not isinstance(host, str) or not host or host == self.host:
            return
        ips = set()
        for a in list(addresses)[:MAX_ADDRESSES]:
            try:
                ips.add(str(ipaddress.ip_address(a)))
            except (ValueError, TypeError):
                continue
        peer = Peer(host[:64], frozenset(ips), _names(traced), _names(wanted), self.clock())
        with self._lock:
            self.peers[monitor] = peer

    def pinged(self, host, t1, t2, t3, t4):
        with self._lock:
            estimator = self.clocks.setdefault(host, OffsetEstimator())
            if not estimator.add(t1, t2, t3, t4):
                self.refused += 1

    def batch(self, host, connections):
        """A peer's sent messages: [(publisher, publisher address, subscriber address,
        dropped, [SentRecord])] (checked here: untrusted)."""
        self._inbox.append((host, connections))

    # -- the tracer's thread ----------------------------------------------------------------
    def offsets(self, now_ns=None):
        with self._lock:
            return {host: est.estimate(now_ns) for host, est in self.clocks.items()}

    def peer_hosts(self):
        with self._lock:
            return {p.host for p in self.peers.values()}

    def traced_elsewhere(self):
        """Publisher nodes another monitor traces."""
        with self._lock:
            return frozenset().union(*(p.traced for p in self.peers.values()))

    def wanted_by_peers(self):
        with self._lock:
            return frozenset().union(*(p.wanted for p in self.peers.values()))

    def collect(self):
        """{RemoteLinkId: RemoteLink} paired in this window."""
        self.base_ns = time_base_ns()
        now = self.clock()
        with self._lock:
            self.peers = {m: p for m, p in self.peers.items()
                          if now - p.seen_at < PEER_TIMEOUT_S}
            theirs = frozenset().union(*(p.addresses for p in self.peers.values()))
        self.own_addresses = self._addresses()
        self._peer_ips = theirs - self.own_addresses
        while self._inbox:
            host, connections = self._inbox.popleft()
            for publisher, pub_addr, sub_addr, dropped, records in connections:
                pub, sub = parse_address(pub_addr), parse_address(sub_addr)
                if pub is None or sub is None:
                    self.refused += 1
                    continue
                self.matcher.add_sent((sub, pub), publisher, host, records, dropped)
        now_ns = host_time_ns()
        self.matcher.match(now_ns, self.offsets(now_ns))
        return self.matcher.take()

    def take_outbox(self):
        """What our publishers sent to peers since the last call: [(publisher node,
        publisher address, subscriber address, dropped, [SentRecord])]."""
        out = []
        for (sub, pub), (pid, dropped, records) in self._outbox.items():
            node = self.node_of(pid)
            if node and (records or dropped):
                out.append((node, address_text(pub), address_text(sub), dropped, records))
        self._outbox, self._outbox_size = {}, 0
        return out

    def forget(self, pid):
        self.matcher.forget(pid)
