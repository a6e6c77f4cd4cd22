"""The monitors of one robot meet over ROS itself (no other network layer): on
/rostrace/peers each pings the others once a second (their clocks' offset, what each
traces and wants traced), on /rostrace/sent each sends, once a window, what its traced
publishers sent to the others' hosts. engine/remote.py does the rest.

Everything another monitor says is untrusted (a peer can be anything that publishes
these types): lengths are checked, a bad batch is counted and dropped, and no callback
can raise into rospy.
"""
import threading
import time

from ..engine.remote import host_time_ns
from ..model.remote import SentRecord

PEERS_TOPIC = '/rostrace/peers'
SENT_TOPIC = '/rostrace/sent'
PING_PERIOD_S = 1.0
MAX_OPEN_PINGS = 16             # requests waiting for replies (older ones are forgotten)
MAX_RECORDS = 20000             # per connection in one batch
MAX_CONNECTIONS = 1024          # per batch


class PeerExchange:
    def __init__(self, rospy, remote, *, monitor, host, announce):
        """`announce()` -> (traced publisher nodes, wanted publisher nodes), called in
        the tracer's thread (after_window)."""
        from rostrace.msg import MonitorPing, SentConnection, SentMessages
        self.rospy = rospy
        self.remote = remote
        self.monitor, self.host = monitor, host
        self.announce = announce
        self._types = (MonitorPing, SentConnection, SentMessages)
        self._announced = ((), ())
        self._seq = 0
        self._open = {}             # seq -> t_request
        self._lock = threading.Lock()
        self._ping_pub = rospy.Publisher(PEERS_TOPIC, MonitorPing, queue_size=64)
        self._sent_pub = rospy.Publisher(SENT_TOPIC, SentMessages, queue_size=8)
        self._subs = [rospy.Subscriber(PEERS_TOPIC, MonitorPing, self._guard(self._on_ping),
                                       queue_size=64, tcp_nodelay=True),
                      rospy.Subscriber(SENT_TOPIC, SentMessages, self._guard(self._on_sent),
                                       queue_size=16)]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._ping_loop, name='rostrace-peers',
                                        daemon=True)
        self._thread.start()

    def _guard(self, callback):
        def guarded(msg):
            try:
                callback(msg)
            except Exception:           # a peer's nonsense must not reach rospy
                self.remote.refused += 1
        return guarded

    # -- pings -------------------------------------------------------------------------
    def _ping_loop(self):
        # time.sleep, not Event.wait: a timed condition wait never returned under a
        # preloaded time faker (libfaketime, which the multi-host test uses).
        while not self._stop.is_set():
            time.sleep(PING_PERIOD_S)
            if not self._stop.is_set():
                self._guard(lambda _: self.ping())(None)

    def ping(self):
        ping_type = self._types[0]
        traced, wanted = self._announced
        with self._lock:
            self._seq = (self._seq + 1) & 0xffffffff
            seq = self._seq
            t1 = host_time_ns()
            self._open[seq] = t1
            while len(self._open) > MAX_OPEN_PINGS:
                self._open.pop(next(iter(self._open)))
        self._ping_pub.publish(ping_type(
            monitor=self.monitor, host=self.host, seq=seq, to_monitor='', t_request=0,
            t_received=0, t_replied=t1, addresses=sorted(self.remote.own_addresses),
            traced_publishers=list(traced), wanted_publishers=list(wanted)))

    def _on_ping(self, msg):
        t_arrived = host_time_ns()
        if msg.monitor == self.monitor or not msg.monitor:
            return
        if not msg.to_monitor:
            self._ping_pub.publish(self._types[0](
                monitor=self.monitor, host=self.host, seq=msg.seq, to_monitor=msg.monitor,
                t_request=msg.t_replied, t_received=t_arrived, t_replied=host_time_ns()))
            self.remote.peer_announced(msg.monitor, msg.host, msg.addresses,
                                       msg.traced_publishers, msg.wanted_publishers)
        elif msg.to_monitor == self.monitor:
            with self._lock:
                t1 = self._open.pop(msg.seq, None)
            if t1 is None or t1 != msg.t_request:
                return                  # late, repeated or not ours
            self.remote.pinged(msg.host, t1, msg.t_received, msg.t_replied, t_arrived)

    # -- sent messages -----------------------------------------------------------------
    def _on_sent(self, msg):
        if msg.monitor == self.monitor or not msg.host or msg.host == self.host:
            return
        connections = []
        for c in msg.connections[:MAX_CONNECTIONS]:
            n = len(c.sizes)
            if n > MAX_RECORDS or not n == len(c.hashes) == len(c.t_publish) == \
                    len(c.t_serialized) == len(c.t_sent):
                self.remote.refused += 1
                continue
            records = [SentRecord((c.sizes[i], c.hashes[i]), c.t_publish[i],
                                  c.t_serialized[i], c.t_sent[i]) for i in range(n)]
            connections.append((c.publisher[:256], c.publisher_address, c.subscriber_address,
                                c.dropped, records))
        self.remote.batch(msg.host[:64], connections)

    def after_window(self, *_):
        """Once a window, in the tracer's thread: send what went to peers, refresh what
        the pings announce."""
        self._announced = tuple(tuple(sorted(names))[:256] for names in self.announce())
        outbox = self.remote.take_outbox()
        if not outbox and not self.remote.cut:
            return
        _, connection_type, batch_type = self._types
        connections = []
        for publisher, pub_addr, sub_addr, dropped, records in outbox[:MAX_CONNECTIONS]:
            records = records[:MAX_RECORDS]
            connections.append(connection_type(
                publisher=publisher, publisher_address=pub_addr, subscriber_address=sub_addr,
                dropped=dropped, sizes=[r.fingerprint[0] for r in records],
                hashes=[r.fingerprint[1] for r in records],
                t_publish=[r.t_publish for r in records],
                t_serialized=[r.t_serialized for r in records],
                t_sent=[r.t_sent for r in records]))
        self._sent_pub.publish(batch_type(monitor=self.monitor, host=self.host,
                                          connections=connections, cut=self.remote.cut))
        self.remote.cut = 0

    def close(self):
        self._stop.set()
        for sub in self._subs:
            sub.unregister()
        self._ping_pub.unregister()
        self._sent_pub.unregister()
