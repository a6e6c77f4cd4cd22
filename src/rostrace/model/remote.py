"""Links across hosts: messages a publisher on another host sent, matched with those our
subscribers received, in our host's time base.

The monitor on the publisher's host sends, per connection to a host that runs a
monitor, each message's fingerprint and times (hand-off, serialized, first send) in
its own time base (monitor/peers.py, batched per window). Here they wait beside the
messages our traced subscribers received on the same connection (its two addresses,
seen from both ends) until both sides are in; a connection delivers in order, so the
pairing is the one of model/matching.py: a received message is the oldest sent one
with its fingerprint, older sent ones were dropped by our subscriber's queue.

The sender's times become ours with the clock offset of its host (model/clocksync.py):
a stage that crosses the hosts (transport, end to end) is as sure as that offset,
which is published with it; a value the offset's uncertainty makes negative is counted
and recorded as 0.
"""
import ipaddress
from collections import deque
from dataclasses import dataclass, field
from typing import NamedTuple

from .histogram import Accumulator

HOLD_NS = 5 * 10**9         # a received message waits this long for its sender's batch
SENT_KEEP_NS = 20 * 10**9   # a sent message waits this long for its receipt
MAX_PER_CONNECTION = 8192   # sent (and received) messages kept per connection
MAX_CONNECTIONS = 1024
REMOTE_STAGES = ('serialization', 'publish_queue', 'transport', 'end_to_end')
CROSSING = ('transport', 'end_to_end')     # stages that depend on the clock offset
MIN_PINGS = 3               # pings an offset is made of before messages are paired with it


def address_text(address):
    """(ip, port) -> 'ip:port' (IPv6 in brackets)."""
    ip, port = address
    return f'[{ip}]:{port}' if ':' in ip else f'{ip}:{port}'


def parse_address(text):
    """'ip:port' -> (ip, port), or None when it is not one (untrusted input)."""
    if not isinstance(text, str) or len(text) > 64:
        return None
    ip, sep, port = text.rpartition(':')
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    ip = ip[1:-1] if ip.startswith('[') and ip.endswith(']') else ip
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if addr.version == 6 and addr.ipv4_mapped:      # as system/procfs.py compares them
        addr = addr.ipv4_mapped
    return str(addr), int(port)


class SentRecord(NamedTuple):
    """One message a remote publisher sent, times in the sender's base (ns)."""
    fingerprint: tuple          # (length, hash)
    t_publish: int
    t_serialized: int
    t_sent: int


class ReceivedRecord(NamedTuple):
    """One message our subscriber's callback finished, times in our base (ns)."""
    fingerprint: tuple
    pid: int
    queue: int
    t_received: int
    t_done: int


class RemoteLinkId(NamedTuple):
    """A publisher on another host -> one subscription queue here."""
    publisher: str              # node name
    host: str
    subscriber_pid: int
    queue: int


@dataclass
class RemoteLink:
    """What one RemoteLinkId's matched messages measured (ns), and the clock offset
    its crossing stages used (the latest; the widest uncertainty)."""
    link: RemoteLinkId
    messages: int = 0
    dropped: int = 0
    below_clock: int = 0        # crossing values the offset's uncertainty made negative
    offset_ns: int = 0
    uncertainty_ns: int = 0
    stages: dict = field(default_factory=lambda: {s: Accumulator() for s in REMOTE_STAGES})


@dataclass
class _Connection:
    publisher: str = ''
    host: str = ''
    sent: deque = field(default_factory=lambda: deque(maxlen=MAX_PER_CONNECTION))
    received: deque = field(default_factory=lambda: deque(maxlen=MAX_PER_CONNECTION))
    dropped: int = 0


class RemoteMatcher:
    """Sent batches of other hosts + our received messages -> RemoteLinks per window.

    Connections are keyed (subscriber address, publisher address) as in
    model/matching.py."""

    def __init__(self):
        self._connections = {}
        self._links = {}
        self.unmatched = 0          # received messages no sender's batch accounted for
        self.cut = 0                # records dropped by the bounds

    def _connection(self, key):
        conn = self._connections.get(key)
        if conn is None:
            if len(self._connections) >= MAX_CONNECTIONS:
                self.cut += 1
                return None
            conn = self._connections[key] = _Connection()
        return conn

    def add_sent(self, key, publisher, host, records, dropped=0):
        """A peer's sent messages on connection `key`, oldest first."""
        conn = self._connection(key)
        if conn is None:
            return
        conn.publisher, conn.host = publisher, host
        conn.dropped += dropped
        room = MAX_PER_CONNECTION - len(conn.sent)
        if len(records) > room:
            self.cut += len(records) - room
        conn.sent.extend(records)

    def add_received(self, key, record):
        conn = self._connection(key)
        if conn is None:
            return
        if len(conn.received) == MAX_PER_CONNECTION:
            self.cut += 1
        conn.received.append(record)

    def match(self, now_ns, offsets):
        """Pair what both sides sent in; `offsets`: host -> clocksync.Offset (their
        clock - ours) or None when not known yet (then nothing of that host is paired).
        Received messages older than HOLD_NS with no sender are counted unmatched."""
        for key, conn in list(self._connections.items()):
            offset = offsets.get(conn.host) if conn.host else None
            if offset is not None and offset.pings < MIN_PINGS:
                offset = None               # a first ping or two: wait for a tighter one
            while conn.received:
                rec = conn.received[0]
                sent = self._take(conn, rec.fingerprint) if offset is not None else None
                if sent is None:
                    if rec.t_done >= now_ns - HOLD_NS:
                        break           # its sender's batch may still come
                    conn.received.popleft()
                    self.unmatched += 1
                    continue
                conn.received.popleft()
                self._pair(conn, rec, sent, offset)
            horizon = now_ns - SENT_KEEP_NS
            while conn.sent and offset is not None and \
                    conn.sent[0].t_sent - offset.offset_ns < horizon:
                conn.sent.popleft()     # never received by a traced callback here
            if not conn.sent and not conn.received:
                del self._connections[key]

    @staticmethod
    def _take(conn, fingerprint):
        for i, sent in enumerate(conn.sent):
            if sent.fingerprint == fingerprint:
                for _ in range(i + 1):
                    conn.sent.popleft()
                return sent
        return None

    def _pair(self, conn, rec, sent, offset):
        link_id = RemoteLinkId(conn.publisher, conn.host, rec.pid, rec.queue)
        link = self._links.get(link_id)
        if link is None:
            link = self._links[link_id] = RemoteLink(link_id)
        link.messages += 1
        link.dropped += conn.dropped
        conn.dropped = 0
        # The offset of the latest pair, the widest uncertainty any pair of the window had.
        link.uncertainty_ns = max(link.uncertainty_ns, offset.uncertainty_ns) if \
            link.messages > 1 else offset.uncertainty_ns
        link.offset_ns = offset.offset_ns
        if sent.t_publish and sent.t_serialized >= sent.t_publish:
            link.stages['serialization'].add_value(sent.t_serialized - sent.t_publish)
        if sent.t_sent >= sent.t_serialized:
            link.stages['publish_queue'].add_value(sent.t_sent - sent.t_serialized)
        if not sent.t_publish:
            return
        published_here = sent.t_publish - offset.offset_ns      # in our time base
        for stage, end in (('transport', rec.t_received), ('end_to_end', rec.t_done)):
            # Below 0 only within the offset's uncertainty: counted, and kept as 0 (left
            # out, the mean of a latency near the uncertainty would read high).
            link.stages[stage].add_value(max(end - published_here, 0))
            link.below_clock += stage == 'transport' and end < published_here

    def pending(self):
        return sum(len(c.sent) + len(c.received) for c in self._connections.values())

    def forget(self, pid):
        for conn in self._connections.values():
            conn.received = deque((r for r in conn.received if r.pid != pid),
                                  maxlen=MAX_PER_CONNECTION)

    def take(self):
        """{RemoteLinkId: RemoteLink} paired since the last take."""
        links, self._links = self._links, {}
        return links
