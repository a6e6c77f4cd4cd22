"""Across processes: pair each message a publisher sent with the one a subscriber
received, per TCP connection, and turn the pairs into per-link latencies.

The kernel emits one event per message and socket when a traced publisher first
send()s it, and one per message a traced subscriber's callback finished (see
probes/bpf/receive.c). Both carry a content fingerprint. A TCP connection is one
publisher -> subscriber link and delivers in order, so a received message is the
oldest not-yet-matched sent message on the same connection with the same
fingerprint: unmatched older ones were received but dropped from the subscriber's
queue (they never reach a callback). Messages sent before tracing began match
nothing and are counted as unmatched, never paired with a neighbour.

Timestamps are bpf_ktime_get_ns() of one kernel, so both ends must run on this host;
a link to another host has no transport number (run one monitor per host).
"""
import time
from collections import deque
from dataclasses import dataclass, field

from .breakdown import LINK_STAGES
from .histogram import Accumulator
from .probes.receive import EVENT_RECEIVED, EVENT_SENT, KIND_INTRA, fingerprint_key

# What matching measures; serialization is aggregated in the kernel per publication.
MATCHED_STAGES = tuple(s for s in LINK_STAGES if s != 'serialization')
MAX_PENDING = 8192          # sent, not yet matched messages kept per connection
RECENT = 64                 # matched messages kept for a topic's other callbacks
RECHECK_S = 2.0             # how long a socket's (fd -> connection) answer is trusted


@dataclass
class LinkNumbers:
    """One publisher -> one subscription, over one window (durations in ns)."""
    publisher_pid: int
    publication: int            # Publication* in the publisher (0: not known)
    subscriber_pid: int
    queue: int                  # SubscriptionQueue* in the subscriber
    intra: bool
    messages: int = 0
    dropped: int = 0            # dropped from the publisher's outgoing queue
    stages: dict = field(default_factory=lambda: {s: Accumulator() for s in MATCHED_STAGES})


class SocketTable:
    """(pid, fd) -> (local, remote) address pairs of TCP connections, cached.

    An fd's socket inode is re-read at most every RECHECK_S (fds get reused); the
    namespace's connection table is parsed once and re-parsed only for an inode it
    does not hold yet (a node with 1000 connections parses it once, not 1000 times).
    """

    def __init__(self, procfs, clock=time.monotonic):
        self.procfs = procfs
        self.clock = clock
        self._cache = {}        # (pid, fd) -> (inode, connection, checked_at)
        self._tables = {}       # pid -> (parsed_at, {inode: connection})

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

    def _lookup(self, pid, inode, now):
        parsed_at, table = self._tables.get(pid, (None, {}))
        if inode not in table and (parsed_at is None or now - parsed_at > 0.1):
            table = self.procfs.tcp_connections(pid)
            self._tables[pid] = (now, table)
        return table.get(inode)

    def forget(self, pid):
        self._cache = {k: v for k, v in self._cache.items() if k[0] != pid}
        self._tables.pop(pid, None)


@dataclass
class _Sent:
    fingerprint: tuple
    pid: int
    publication: int
    t_publish: int
    t_serialized: int
    t_sent: int


class TransportMatcher:
    """Feeds on transport events; `take()` returns the window's LinkNumbers."""

    def __init__(self, sockets):
        self.sockets = sockets
        self._pending = {}      # connection (subscriber addr, publisher addr) -> deque
        self._recent = {}       # connection -> deque of matched _Sent
        self._drops = {}        # connection -> drops not yet given to a link
        self._link_of = {}      # connection -> link key
        self._links = {}        # link key -> LinkNumbers (this window)
        self.unmatched = 0      # received messages with no sent counterpart
        self.lost = 0           # events the kernel could not deliver

    def feed(self, events, lost=0):
        self.lost += lost
        for ev in events:
            if ev.type == EVENT_SENT:
                self._sent(ev)
            elif ev.type == EVENT_RECEIVED:
                self._received(ev)

    def forget(self, pid):
        """A process left: drop what waits on its connections."""
        for conn in [c for c, key in self._link_of.items() if pid in (key[0], key[2])]:
            del self._link_of[conn]
            self._pending.pop(conn, None)
            self._recent.pop(conn, None)
            self._drops.pop(conn, None)

    # -- events -------------------------------------------------------------------------
    def _sent(self, ev):
        conn = self.sockets(ev.tgid, ev.fd)
        if conn is None:
            return
        local, remote = conn
        key = (remote, local)                   # (subscriber addr, publisher addr)
        queue = self._pending.setdefault(key, deque(maxlen=MAX_PENDING))
        queue.append(_Sent(fingerprint_key(ev.fp), ev.tgid, ev.publication, ev.t_publish,
                           ev.t_serialized, ev.t_sent))
        if ev.dropped:
            link = self._link_of.get(key)
            if link is not None:
                self._link(link).dropped += ev.dropped
            else:
                self._drops[key] = self._drops.get(key, 0) + ev.dropped

    def _received(self, ev):
        if ev.kind == KIND_INTRA:
            link = self._link((ev.tgid, ev.publication, ev.tgid, ev.object, True))
            link.messages += 1
            if ev.t_publish and ev.t_done > ev.t_publish:
                link.stages['end_to_end'].add_value(ev.t_done - ev.t_publish)
            return
        conn = self.sockets(ev.tgid, ev.fd)
        if conn is None:
            self.unmatched += 1
            return
        key = conn                              # (subscriber addr, publisher addr)
        sent = self._match(key, fingerprint_key(ev.fp))
        if sent is None:
            self.unmatched += 1
            return
        link_key = (sent.pid, sent.publication, ev.tgid, ev.object, False)
        self._link_of.setdefault(key, link_key)
        link = self._link(link_key)
        if key in self._drops:
            link.dropped += self._drops.pop(key)
        link.messages += 1
        if sent.t_sent >= sent.t_serialized:
            link.stages['publish_queue'].add_value(sent.t_sent - sent.t_serialized)
        if sent.t_publish and ev.t_received > sent.t_publish:
            link.stages['transport'].add_value(ev.t_received - sent.t_publish)
            link.stages['end_to_end'].add_value(ev.t_done - sent.t_publish)

    def _match(self, key, fingerprint):
        queue = self._pending.get(key)
        if queue:
            for i, sent in enumerate(queue):
                if sent.fingerprint == fingerprint:
                    for _ in range(i + 1):      # older ones: dropped by the subscriber
                        queue.popleft()
                    self._recent.setdefault(key, deque(maxlen=RECENT)).append(sent)
                    return sent
        # The same message again, for another callback of the topic in that process.
        for sent in reversed(self._recent.get(key, ())):
            if sent.fingerprint == fingerprint:
                return sent
        return None

    def _link(self, key):
        link = self._links.get(key)
        if link is None:
            link = self._links[key] = LinkNumbers(*key)
        return link

    def take(self):
        """{link key: LinkNumbers} of the window, and start a new one."""
        links, self._links = self._links, {}
        return links
