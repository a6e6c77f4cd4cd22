"""rospy nodes: their slave API's answers (untrusted) read into connections and
delivered counts, and the messages rospy's queue_size pruning dropped.

rospy counts a connection's messages after pruning (`stat_num_msg` grows by the
messages it kept, rospy/impl/tcpros_base.py receive_once); the kernel counts the
messages whose last byte a read took (probes/bpf/rospy.c). Their difference is what
rospy dropped -- once both counts cover the same reads: the node's thread sat in
recvfrom, with no read returning, from before rospy was asked until after it answered
(then every message read had been pruned or kept and counted). Such a snapshot is
the baseline -- or one before the first read since the socket was registered -- and
each later one says how many were dropped since."""
import re
from dataclasses import dataclass

from .nodestats import subscription_counters, topic_name

MAX_CONNECTIONS = 4096
# rospy's get_transport_info(); `socket` is None where rospy connected the socket itself
# (every subscriber connection): the ports name it.
SOCKET_INFO = re.compile(r'connection on port (\d{1,5}) to \[[^\]\s]*:(\d{1,5}) on socket '
                         r'(\d{1,9}|None)\]$')


@dataclass(frozen=True)
class BusConnection:
    connection: int          # rospy's connection id
    topic: str
    local_port: int
    remote_port: int
    outbound: bool = False   # a publisher's connection to a subscriber


def parse_bus_info(value):
    """getBusInfo's value -> [BusConnection] of the TCPROS connections (inbound:
    subscriptions', outbound: publications') whose info string names their ports (rospy's get_transport_info: `TCPROS connection on
    port P to [host:Q on socket N]`); entries of any other shape are left out."""
    out = []
    if not isinstance(value, list):
        return out
    for entry in value[:MAX_CONNECTIONS]:
        if not isinstance(entry, list) or len(entry) < 7:
            continue
        conn, _, direction, transport, topic, _, info = entry[:7]
        topic = topic_name(topic)
        if (type(conn) is not int or direction not in ('i', 'o') or transport != 'TCPROS'
                or topic is None or not isinstance(info, str) or len(info) > 1024):
            continue
        m = SOCKET_INFO.search(info)
        if m is None:
            continue
        local, remote = int(m.group(1)), int(m.group(2))
        if 0 < local < 65536 and 0 < remote < 65536:
            out.append(BusConnection(conn, topic, local, remote, direction == 'o'))
    return out


def parse_bus_stats(value):
    """getBusStats's value -> {(topic, connection id): messages delivered} of its
    subscriber connections (model/nodestats.py reads them)."""
    return {(topic, link.connection): link.received
            for topic, links in subscription_counters(value).items() for link in links}


class DropCounter:
    """One connection: messages dropped, from (kernel counts before, rospy's delivered
    count, kernel counts after) snapshots. Kernel counts: (frames, reads, in_recv,
    lost_sync, multi). rospy prunes only where one read took several messages
    (`multi` reads): while there was none since the last snapshot, nothing was dropped
    and rospy need not be asked (asking costs the node its GIL for a while)."""

    def __init__(self):
        self.base = None        # (frames, delivered, lost_sync) of the baseline
        self.reported = 0       # drops since the baseline already returned
        self.multi = None       # `multi` at the last snapshot counted

    def wants(self, counts):
        """Whether asking rospy now could count something: no baseline yet, or reads
        that took several messages since the last count while the reader waits now."""
        if self.base is None:
            return True
        return counts[4] != self.multi and bool(counts[2])

    def update(self, before, after, delivered):
        """Messages dropped since the last call (0 when this snapshot cannot say)."""
        frames, reads, in_recv, lost_sync = after[:4]
        # Nothing read since the socket was registered: whatever rospy counted was read
        # before, and every later message counts on both sides (a base, not a count).
        fresh = not frames and not reads and self.base is None
        if before != after or not (in_recv or fresh):
            return 0            # a read returned meanwhile, or the thread was not in recv
        if self.base is None or self.base[2] != lost_sync or delivered < self.base[1]:
            self.base = (frames, delivered, lost_sync)      # (re)start counting here
            self.reported = 0
            self.multi = after[4]
            return 0
        self.multi = after[4]
        dropped = (frames - self.base[0]) - (delivered - self.base[1])
        if dropped <= self.reported:
            return 0
        new, self.reported = dropped - self.reported, dropped
        return new
