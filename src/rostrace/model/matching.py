"""Across processes: pair each message a publisher sent with the one a subscriber
received, per TCP connection, and turn the pairs into per-link latencies.

The kernel emits one event per message and socket when a traced publisher first
send()s it, and one per message a traced subscriber's callback finished (see
probes/bpf/transport.c). Both carry a content fingerprint. A TCP connection is one
publisher -> subscriber link and delivers in order, so a received message is the
oldest not-yet-matched sent message on the same connection with the same
fingerprint: unmatched older ones were received but dropped from the subscriber's
queue (they never reach a callback). Messages sent before tracing began match
nothing and are counted as unmatched, never paired with a neighbour.

Timestamps are bpf_ktime_get_ns() of one kernel, so both ends must run on this host;
a connection to a host that runs another monitor goes to `remote` instead
(engine/remote.py, model/remote.py: the monitors exchange what they sent).
"""
from collections import deque
from dataclasses import dataclass, field
from typing import NamedTuple

from ..probes.abi import EVENT_RECEIVED, EVENT_SENT, KIND_INTRA
from .histogram import Accumulator

# What a link measures per message; serialization is aggregated in the kernel per
# publication. Messages matched here (not in the kernel) have no network / socket wait.
MAX_PENDING = 8192          # sent, not yet matched messages kept per connection
RECENT = 64                 # matched messages kept for a topic's other callbacks
# A connection none of whose sent messages reached a traced callback for this long goes
# to a subscriber rostrace does not trace (rosbag, rviz, another host): its messages
# are not kept until a subscriber is attached.
UNCONFIRMED_NS = 20 * 10**9


def fingerprint_key(fp):
    """What identifies a message's bytes: its length and the kernel's hash of the first
    min(len, FP_HEAD) bytes and (when len >= FP_HEAD + FP_TAIL) the last FP_TAIL."""
    return (fp.len, fp.hash)


class LinkId(NamedTuple):
    """One publication of one process -> one subscription queue of another (or the
    same, intra-process)."""
    publisher_pid: int
    publication: int            # Publication* in the publisher (0: not known)
    subscriber_pid: int
    queue: int                  # SubscriptionQueue* in the subscriber
    intra: bool
    path: bool = False          # not a link: the publication is an ancestor 2+ hops up


class Stages(dict):
    """Stage name -> Accumulator, made when first asked for (a thousand links a window
    had every stage made, most of them empty)."""

    def __missing__(self, name):
        acc = self[name] = Accumulator()
        return acc


@dataclass
class MatchedLink:
    """What the matched messages of one LinkId measured over one window (ns)."""
    link: LinkId
    messages: int = 0
    dropped: int = 0            # dropped from the publisher's outgoing queue
    stages: dict = field(default_factory=lambda: Stages())


@dataclass
class _Sent:
    fingerprint: tuple
    pid: int
    fd: int
    publication: int
    t_publish: int
    t_serialized: int
    t_sent: int


class TransportMatcher:
    """Feeds on transport events; `take()` returns the window's MatchedLinks.

    `sockets(pid, fd)` names a socket's TCP connection as (local, remote) addresses,
    or None (system/sockets.py reads them from /proc; tests pass a dict's get).
    `on_pair(subscriber end, publisher end, connection)` is told, once per connection,
    both ends ((pid, fd) each) of a connection it matched a message on: the kernel can
    match that connection's messages itself from then on (probes/bpf/transport.c)."""

    def __init__(self, sockets, on_pair=None):
        self.sockets = sockets
        self.on_pair = on_pair
        self._paired = set()    # connections given to on_pair
        self._pending = {}      # connection (subscriber addr, publisher addr) -> deque
        self._recent = {}       # connection -> deque of matched _Sent
        self._drops = {}        # connection -> drops not yet given to a link
        self._link_of = {}      # connection -> LinkId
        self._links = {}        # LinkId -> MatchedLink (this window)
        self._ignored = {}      # connection -> publisher pid: to an untraced subscriber
        self._latest_ns = 0     # the newest kernel timestamp seen
        self.unmatched = 0      # received messages with no sent counterpart
        # Connections to another monitor's host: remote.is_peer(ip) says which;
        # remote.sent(key, _Sent, dropped) / remote.received(key, event) take them.
        self.remote = None

    def feed(self, events):
        for ev in events:
            if ev.type == EVENT_SENT:
                self._sent(ev)
            elif ev.type == EVENT_RECEIVED:
                self._received(ev)

    def forget(self, pid):
        """A process left: drop what waits on its connections."""
        gone = [c for c, link in self._link_of.items()
                if pid in (link.publisher_pid, link.subscriber_pid)]
        gone += [c for c, queue in self._pending.items() if queue and queue[0].pid == pid]
        for conn in gone:
            self._paired.discard(conn)
            self._link_of.pop(conn, None)
            self._pending.pop(conn, None)
            self._recent.pop(conn, None)
            self._drops.pop(conn, None)
        self._ignored = {c: p for c, p in self._ignored.items() if p != pid}

    def unpair(self, connection):
        """The kernel no longer matches `connection`: events about it come back here,
        and it may be paired again."""
        self._paired.discard(connection)

    def subscriber_added(self):
        """A subscriber is traced now: its connections may be among the ignored."""
        self._ignored.clear()

    def pending_count(self):
        return sum(len(q) for q in self._pending.values())

    def _prune(self):
        """Free the messages kept for connections no traced callback confirmed."""
        horizon = self._latest_ns - UNCONFIRMED_NS
        for conn in [c for c, q in self._pending.items()
                     if c not in self._link_of and q and q[0].t_sent < horizon]:
            self._ignored[conn] = self._pending.pop(conn)[0].pid
            self._drops.pop(conn, None)

    # -- events -------------------------------------------------------------------------
    def _sent(self, ev):
        conn = self.sockets(ev.tgid, ev.fd)
        if conn is None:
            return
        local, remote = conn
        key = (remote, local)                   # (subscriber addr, publisher addr)
        self._latest_ns = max(self._latest_ns, ev.t_sent)
        if self.remote is not None and self.remote.is_peer(remote[0]):
            self.remote.sent(key, _Sent(fingerprint_key(ev.fp), ev.tgid, ev.fd, ev.publication,
                                        ev.t_publish, ev.t_serialized, ev.t_sent), ev.dropped)
            return
        if key in self._ignored:
            return
        queue = self._pending.setdefault(key, deque(maxlen=MAX_PENDING))
        queue.append(_Sent(fingerprint_key(ev.fp), ev.tgid, ev.fd, ev.publication,
                           ev.t_publish, ev.t_serialized, ev.t_sent))
        if ev.dropped:
            link = self._link_of.get(key)
            if link is not None:
                self._link(link).dropped += ev.dropped
            else:
                self._drops[key] = self._drops.get(key, 0) + ev.dropped

    def _received(self, ev):
        if ev.kind == KIND_INTRA:
            link = self._link(LinkId(ev.tgid, ev.publication, ev.tgid, ev.object, True))
            link.messages += 1
            if ev.t_publish and ev.t_done > ev.t_publish:
                link.stages['end_to_end'].add_value(ev.t_done - ev.t_publish)
            return
        conn = self.sockets(ev.tgid, ev.fd)
        if conn is None:
            self.unmatched += 1
            return
        key = conn                              # (subscriber addr, publisher addr)
        if self.remote is not None and self.remote.is_peer(conn[1][0]):
            self.remote.received(key, ev)
            return
        sent = self._match(key, fingerprint_key(ev.fp))
        if sent is None:
            self.unmatched += 1
            return
        link_key = LinkId(sent.pid, sent.publication, ev.tgid, ev.object, False)
        self._link_of.setdefault(key, link_key)
        if self.on_pair is not None and key not in self._paired:
            self._paired.add(key)
            self.on_pair((ev.tgid, ev.fd), (sent.pid, sent.fd), key)
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
            link = self._links[key] = MatchedLink(key)
        return link

    def take(self):
        """{LinkId: MatchedLink} of the window, and start a new one."""
        self._prune()
        links, self._links = self._links, {}
        return links
