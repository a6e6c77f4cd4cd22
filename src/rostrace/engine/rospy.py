"""rospy subscribers (probes/bpf/rospy.c): the sockets of their connections, named by
the node's own getBusInfo and checked against /proc, registered in the kernel; rospy's
own delivered counts (getBusStats) against the messages the kernel framed: drops.

A rospy connection's object in the kernel's rows is ROSPY_BIT | fd. The node's answers
are untrusted: a socket is registered only when the process holds a TCP connection
between the ports the node names."""
import threading
import time
from dataclasses import dataclass

from ..errors import BadPeer, ProcessGone
from ..model.rospy import DropCounter, parse_bus_info, parse_bus_stats
from ..probes import abi
from ..probes.connection_maps import delete, receive_tuple
from ..probes.tables import TRACED
from ..system.rosapi import Node

ROSPY_BIT = 1 << abi.ROSPY_OBJECT_SHIFT
ASK_PERIOD_S = 0.5          # how often a node's TCP connections are looked at (/proc)
INFO_PERIOD_S = 10.0        # getBusInfo at least this often, else when they change
STATS_PERIOD_S = 1.0        # getBusStats at most this often


class _Seen:
    """What a node's thread asked last."""
    held = None
    info_at = stats_at = float('-inf')


def rospy_object(fd):
    return ROSPY_BIT | fd


def is_rospy_object(obj):
    return (obj >> abi.ROSPY_OBJECT_SHIFT) == 1


@dataclass
class RospySocket:
    topic: str
    connection: int                 # rospy's connection id (getBusStats)
    addresses: tuple                # ((local ip, port), (remote ip, port)) from /proc


class RospySubscribers:
    """A thread per rospy node (a slow or hostile peer delays only its own numbers)
    asks it for its connections and delivered counts when needed (_step); sockets are
    registered and dropped by the answers, drops counted until update()."""

    def __init__(self, program, sockets):
        self.program = program
        self.sockets = sockets              # system/sockets.SocketTable
        self.targets = {}                   # pid -> TargetProcess
        self.errors = {}                    # pid -> the last answer refused (text)
        self._registered = {}               # (pid, fd) -> RospySocket
        self._outbound = {}                 # pid -> {fd: topic} of its publications' sockets
        self._drops = {}                    # (pid, fd) -> DropCounter
        self._dropped = {}                  # (pid, fd) -> drops not taken by update() yet
        self._stop = {}                     # pid -> Event ending its thread
        self._lock = threading.RLock()      # the maps above and the kernel's rospy maps

    # -- attach / forget ------------------------------------------------------------------
    def attached(self, target):
        """A rospy subscriber: its reads are framed from now on, its connections
        registered as soon as it names them."""
        with self._lock:
            self.targets[target.pid] = target
            self.program.tables.add_flag(TRACED, target.pid,
                                         abi.TGID_TRACED | abi.TGID_ROSPY)
            stop = self._stop[target.pid] = threading.Event()
        if target.uri:
            threading.Thread(target=self._follow, args=(target, stop), daemon=True,
                             name=f'rostrace-rospy-{target.pid}').start()

    def forget(self, pid):
        with self._lock:
            self.targets.pop(pid, None)
            stop = self._stop.pop(pid, None)
            if stop is not None:
                stop.set()
            self.errors.pop(pid, None)
            for key in [k for k in self._registered if k[0] == pid]:
                self._unregister(key)
            self._outbound.pop(pid, None)

    def close(self):
        for pid in list(self.targets):
            self.forget(pid)

    # -- per window ---------------------------------------------------------------------
    def topic(self, pid, obj):
        """The topic of a rospy node's connection: a subscription's socket, or a
        publication's (publisher.c rospy_sent names a message by its socket)."""
        fd = obj & 0xffffffff
        with self._lock:
            found = self._registered.get((pid, fd))
            return found.topic if found else self._outbound.get(pid, {}).get(fd)

    def update(self):
        """{(pid, fd): messages rospy dropped} since the last update."""
        with self._lock:
            dropped, self._dropped = self._dropped, {}
        return dropped

    # -- inside --------------------------------------------------------------------------
    def _follow(self, target, stop):
        seen = _Seen()
        while not stop.is_set():
            try:
                self._step(target, seen, stop)
            except (BadPeer, ProcessGone, OSError) as e:
                with self._lock:
                    if target.pid in self.targets:
                        self.errors[target.pid] = str(e)
            else:
                with self._lock:
                    self.errors.pop(target.pid, None)
            stop.wait(ASK_PERIOD_S)

    def _step(self, target, seen, stop):
        """Ask the node what has to be asked: its connections when the process's TCP
        connections changed (or INFO_PERIOD_S passed), its delivered counts when they
        can say something (model/rospy.DropCounter.wants) -- each answer costs the
        node's Python threads the GIL for a while."""
        pid, node, now = target.pid, Node(target.uri, target.node), time.monotonic()
        held = self.sockets.connections_of(pid)
        if held != seen.held or now - seen.info_at >= INFO_PERIOD_S:
            info = node.bus_info()
            with self._lock:
                if stop.is_set():
                    return
                self._sync(pid, parse_bus_info(info), held)
            seen.held, seen.info_at = held, now
        before = self._kernel_counts(pid)
        with self._lock:
            wanted = any(self._drops[pid, fd].wants(c) for fd, c in before.items()
                         if (pid, fd) in self._drops)
        if not wanted or now - seen.stats_at < STATS_PERIOD_S:
            return
        code, stats = node.call('getBusStats')
        after = self._kernel_counts(pid)
        if code != 1:
            raise BadPeer(target.node, f'getBusStats answered code {code}')
        seen.stats_at = now
        with self._lock:
            if stop.is_set():
                return
            for fd, n in self._count_drops(pid, parse_bus_stats(stats), before,
                                           after).items():
                if n:
                    self._dropped[pid, fd] = self._dropped.get((pid, fd), 0) + n

    def _kernel_counts(self, pid):
        """fd -> (frames, reads, in_recv, lost_sync, multi) of `pid`'s registered
        sockets."""
        table = self.program.bpf[b'rospy_socks']
        out = {}
        with self._lock:
            registered = list(self._registered)
        for (p, fd) in registered:
            if p != pid:
                continue
            try:
                v = table[abi.SockKey(tgid=pid, fd=fd)]
            except KeyError:
                continue
            out[fd] = (v.frames, v.reads, v.in_recv, v.lost_sync, v.multi)
        return out

    def _sync(self, pid, connections, held):
        """Register the connections the node named that `pid` holds (a TCP
        connection between those ports, in its fd table); drop the registered ones no
        longer named."""
        wanted, outbound = {}, {}
        by_ports = {(a[0][1], a[1][1]): (fd, a) for fd, a in held.items()}
        for c in connections:
            found = by_ports.get((c.local_port, c.remote_port))
            if found is not None and c.outbound:
                outbound[found[0]] = c.topic
            elif found is not None:
                wanted[pid, found[0]] = RospySocket(c.topic, c.connection, found[1])
        self._outbound[pid] = outbound
        for key in [k for k in self._registered if k[0] == pid and
                    self._registered[k] != wanted.get(k)]:
            self._unregister(key)
        for key, sock in wanted.items():
            if key not in self._registered:
                self._register(key, sock)

    def _register(self, key, sock):
        bpf = self.program.bpf
        sk = abi.SockKey(tgid=key[0], fd=key[1])
        bpf[b'rospy_socks'][sk] = bpf[b'rospy_socks'].Leaf()
        bpf[b'rx_states'][sk] = bpf[b'rx_states'].Leaf()
        bpf[b'rx_tuples'][receive_tuple(sock.addresses)] = sk
        self._registered[key] = sock
        self._drops[key] = DropCounter()

    def _unregister(self, key):
        sock = self._registered.pop(key)
        self._drops.pop(key, None)
        bpf = self.program.bpf
        sk = abi.SockKey(tgid=key[0], fd=key[1])
        for name in (b'rospy_socks', b'rx_states', b'rospy_batches'):
            delete(bpf[name], sk)
        delete(bpf[b'rx_tuples'], receive_tuple(sock.addresses))

    def _count_drops(self, pid, stats, before, after):
        """fd -> messages rospy dropped since the last count (model/rospy.DropCounter)."""
        out = {}
        for (p, fd), sock in self._registered.items():
            if p != pid or fd not in before or fd not in after:
                continue
            delivered = stats.get((sock.topic, sock.connection))
            if delivered is None:
                continue
            out[fd] = self._drops[p, fd].update(before[fd], after[fd], delivered)
        return out

