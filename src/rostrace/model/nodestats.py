"""A roscpp node's own message counters (its slave API's getBusStats), read as the
overhead budget's cheapest mode: received and dropped per subscribed topic with no
probe in the process at all. [pure]

roscpp counts per publisher link (transport_publisher_link.cpp handleMessage):
`messages_received_` for every message read from the connection, `drops_` for every
push into a full callback queue (subscription.cpp handleMessage's `was_full`).
Two quirks of roscpp 1.15 (Debian's, and Noetic's latest) decide what can be read:
- getBusStats's reply is not [code, message, value]: the callback writes the stats
  over its result and leaves [publications, subscriptions, ...] (topic_manager.cpp
  getBusStatsCallback); rospy answers [1, '', [publications, subscriptions, ...]].
- Subscription::getStats never advances its link index: a topic with several
  publisher links shows only the last one. Such a topic cannot be counted this way;
  getBusInfo (every link, one entry each) says which topics they are.
The node's answers are untrusted: only well-formed entries are read, and counters
that go backwards (a link replaced under the same id, a 32-bit wrap) restart."""
from dataclasses import dataclass, field

MAX_TOPIC_LEN = 1024
MAX_ENTRIES = 4096


@dataclass(frozen=True)
class LinkCounters:
    connection: int
    received: int
    dropped: int = None     # None: no count (rospy's drop estimate is -1)


def topic_name(value):
    """`value` when it reads as a topic name, else None."""
    return (value if isinstance(value, str) and value.startswith('/')
            and len(value) <= MAX_TOPIC_LEN else None)


def _int(value):
    return type(value) is int and value >= 0


def bus_stats_value(reply):
    """The [publications, subscriptions, ...] part of a getBusStats reply of either
    client, or None."""
    if not isinstance(reply, list):
        return None
    if len(reply) == 3 and type(reply[0]) is int:          # rospy: [code, msg, value]
        return reply[2] if reply[0] == 1 and isinstance(reply[2], list) else None
    return reply if len(reply) >= 2 and isinstance(reply[1], list) else None


def subscription_counters(stats):
    """{topic: [LinkCounters]} of a getBusStats value's subscriptions
    (`[[topic, [[id, bytes, messages, drops, connected], ...]], ...]`; rospy's and
    roscpp's alike)."""
    out = {}
    if not isinstance(stats, list) or len(stats) < 2 or not isinstance(stats[1], list):
        return out
    for entry in stats[1][:MAX_ENTRIES]:
        if not isinstance(entry, list) or len(entry) != 2 or not isinstance(entry[1], list):
            continue
        topic = topic_name(entry[0])
        if topic is None:
            continue
        links = out.setdefault(topic, [])
        for c in entry[1][:MAX_ENTRIES]:
            if isinstance(c, list) and len(c) >= 3 and type(c[0]) is int and _int(c[2]):
                dropped = c[3] if len(c) >= 4 and _int(c[3]) else None
                links.append(LinkCounters(c[0], c[2], dropped))
    return out


def inbound_links(info):
    """{topic: number of publisher links} of a getBusInfo value (direction 'i')."""
    out = {}
    if not isinstance(info, list):
        return out
    for entry in info[:MAX_ENTRIES]:
        if isinstance(entry, list) and len(entry) >= 5 and entry[2] == 'i':
            topic = topic_name(entry[4])
            if topic is not None:
                out[topic] = out.get(topic, 0) + 1
    return out


@dataclass
class TopicCounts:
    received: int = 0
    dropped: int = 0

    def add(self, other):
        self.received += other.received
        self.dropped += other.dropped


@dataclass
class CounterDeltas:
    """Messages a node received and dropped per topic between its answers. The first
    answer of a link is its baseline; a topic with several publisher links is left
    out (`uncountable`: roscpp shows one of them)."""
    _last: dict = field(default_factory=dict)   # (topic, connection) -> LinkCounters
    uncountable: tuple = ()

    def update(self, stats, info):
        """{topic: TopicCounts} since the previous update, from one getBusStats value
        and the getBusInfo value asked next to it."""
        counters, links = subscription_counters(stats), inbound_links(info)
        self.uncountable = tuple(sorted(t for t, n in links.items() if n > 1))
        out, last = {}, {}
        for topic, found in counters.items():
            if topic in self.uncountable or len(found) != 1 or found[0].dropped is None:
                continue
            now = found[0]
            key = (topic, now.connection)
            last[key] = now
            before = self._last.get(key)
            if before is None or now.received < before.received or now.dropped < before.dropped:
                continue
            out[topic] = TopicCounts(now.received - before.received,
                                     now.dropped - before.dropped)
        self._last = last
        return out
