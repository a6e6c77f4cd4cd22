"""Library API: attach to roscpp processes, take per-window snapshots, detach.

Usable without a ROS master when given a PID: topic names are then checked
against the node's own XML-RPC API (found through its listening sockets).
"""
import time
import xmlrpc.client

from . import targets as targets_mod
from .breakdown import build_breakdown, merge_numbers
from .errors import MasterUnreachable, ProcessGone, RostraceError
from .histogram import Accumulator
from .probes.receive import PUBLISH_POINTS, RECEIVE_POINTS
from .procfs import ProcFS
from .topics import TopicResolver
from .transport import SocketTable, TransportMatcher


def _name_from_cmdline(procfs, pid):
    """The node name given as `__name:=` on the command line, if any."""
    try:
        args = procfs.read(pid, 'cmdline').split('\0')
    except ProcessGone:
        return ''
    for arg in args:
        if arg.startswith('__name:='):
            name = arg[len('__name:='):]
            return name if name.startswith('/') else '/' + name
    return ''


def discover_node_uri(procfs, pid):
    """The XML-RPC URI of the ROS node run by `pid`: the listening port whose slave
    API answers getPid with this process's own (namespaced) PID."""
    chain = procfs.nspid(pid) or [pid]
    for port in procfs.listening_ports(pid):
        uri = f'http://127.0.0.1:{port}/'
        try:
            code, _, answer = targets_mod._proxy(uri).getPid(targets_mod.CALLER_ID)
        except (OSError, xmlrpc.client.Error):
            continue
        if code == 1 and answer == chain[-1]:
            return uri, _name_from_cmdline(procfs, pid)
    return '', _name_from_cmdline(procfs, pid)


def _node_topics(target, method):
    """Topic names from a node's slave API (getSubscriptions / getPublications);
    empty when the node has no known URI or does not answer."""
    if target is None or not target.uri:
        return set()
    try:
        return {t for t, _ in targets_mod.node_call(target.uri, method)}
    except (ProcessGone, TypeError, ValueError):
        return set()


class Tracer:
    """Owns one compiled BPF program and the processes it is attached to."""

    def __init__(self, *, procfs=None, calibrate=True, cflags=()):
        from .probes.receive import ReceiveProbes
        from .probes import calibrate as calibration
        self.procfs = procfs or ProcFS()
        self.probes = ReceiveProbes(cflags=cflags)
        self.calibration = None
        try:
            if calibrate:
                self.calibration = calibration.calibrate(self.probes)
        except BaseException:
            self.probes.close()
            raise
        self.targets = {}           # pid -> TargetProcess
        self._audited = set()       # pids under the real-time audit
        self._subscribed = {}       # pid -> set of topics
        self._topics = TopicResolver(self.procfs)
        # Publisher side: processes whose publications feed the targets' topics.
        self.publishers = {}        # pid -> TargetProcess with the publish probes
        self.publisher_notes = {}   # publisher node -> why it is not traced
        self._published = {}        # pid -> set of topics it publishes
        self._publications = TopicResolver(self.procfs, offsets=range(0, 136, 8))
        self._sockets = SocketTable(self.procfs)
        self.transport = TransportMatcher(self._sockets)
        self._window_start = time.monotonic()
        self.last_window_s = 0.0

    @property
    def probe_cost_us(self):
        return self.calibration.pair_ns / 1000.0 if self.calibration else 0.0

    # -- targets ------------------------------------------------------------------------
    def attach_node(self, node, *, master, audit=False):
        target = targets_mod.resolve_node(node, master=master, procfs=self.procfs)
        self.attach_target(target, audit=audit)
        self.follow_publishers(master)
        return target

    def attach_pid(self, pid, *, node='', audit=False):
        uri, name = discover_node_uri(self.procfs, pid)
        target = targets_mod.target_from_pid(pid, node=node or name, procfs=self.procfs,
                                             uri=uri)
        return self.attach_target(target, audit=audit)

    def attach_target(self, target, *, audit=False):
        """Attach the receive-path probes; `audit` adds the real-time audit
        (malloc and syscalls inside callbacks; costs a probe hit per malloc)."""
        if not target.probe_points:
            raise RostraceError(f'no probe point found in {target.library}',
                                hint='; '.join(target.missing.values()))
        if not self.targets and not self.last_window_s:
            self._window_start = time.monotonic()    # the first window starts here
        self.probes.attach(target, points=RECEIVE_POINTS)
        self.targets[target.pid] = target
        if audit:
            try:
                self.probes.audit(target.pid, *targets_mod.find_malloc(self.procfs, target.pid))
            except BaseException:
                self.detach(target.pid)
                raise
            self._audited.add(target.pid)
        self.refresh_subscriptions(target.pid)
        return target

    def refresh_subscriptions(self, pid):
        self._subscribed[pid] = topics = _node_topics(self.targets[pid], 'getSubscriptions')
        return topics

    def subscribed(self, pid):
        return sorted(self._subscribed.get(pid, ()))

    # -- publishers ---------------------------------------------------------------------
    def follow_publishers(self, master):
        """Attach the publisher side (serialization, outgoing queue, the sending end of
        transport) to every process on this host that publishes a topic a target
        subscribes to; forget the gone. Publishers elsewhere get a note, not a number."""
        for pid in [p for p in self.publishers if not self.procfs.alive(p)]:
            self._detach_publisher(pid)
        wanted = {t for pid in self.targets for t in self._subscribed.get(pid, ())}
        if not wanted:
            return
        try:
            publishers = master.publishers(wanted)
        except MasterUnreachable:
            return
        needed = {n for names in publishers.values() for n in names}
        for pid, target in list(self.publishers.items()):
            if target.node not in needed:          # no longer feeds a traced topic
                self._detach_publisher(pid)
        traced = {t.node for t in self.publishers.values()}
        for node in sorted(needed - traced):
            try:
                target = targets_mod.resolve_node(node, master=master, procfs=self.procfs)
                self.attach_publisher(target)
            except RostraceError as e:
                self.publisher_notes[node] = str(e)

    def attach_publisher(self, target):
        missing = PUBLISH_POINTS - set(target.probe_points)
        if missing:
            raise RostraceError(f'{target.node}: no publish probe point '
                                f'({", ".join(sorted(missing))}) in {target.library}')
        self.probes.attach(target, points=PUBLISH_POINTS)
        self.publishers[target.pid] = target
        self.publisher_notes.pop(target.node, None)
        self._refresh_publications(target.pid)

    def _refresh_publications(self, pid):
        target = self.publishers.get(pid) or self.targets.get(pid)
        self._published[pid] = topics = _node_topics(target, 'getPublications')
        return topics

    def _publication_topic(self, pid, publication):
        target = self.publishers.get(pid) or self.targets.get(pid)
        if target is None:
            return None
        for attempt in range(2):
            published = self._published.get(pid) or set()
            topic = self._publications.resolve(pid, publication, library=target.library,
                                               subscribed=published)
            if topic is not None or attempt:
                return topic
            self._refresh_publications(pid)
        return None

    def _detach_publisher(self, pid):
        target = self.publishers.pop(pid, None)
        if target is None:
            return
        if pid in self.targets:
            return          # its receive probes stay; publish probes go with detach()
        self.probes.detach(pid)
        self._forget(pid)

    def _forget(self, pid):
        self._published.pop(pid, None)
        self._publications.forget(pid)
        self._sockets.forget(pid)
        self.transport.forget(pid)

    def detach(self, pid):
        self.probes.detach(pid)
        self.targets.pop(pid, None)
        self.publishers.pop(pid, None)
        self._audited.discard(pid)
        self._subscribed.pop(pid, None)
        self._topics.forget(pid)
        self._forget(pid)

    def close(self):
        self.probes.close()
        self.targets.clear()

    # -- windows ------------------------------------------------------------------------
    def _topic_of(self, pid, queue):
        target = self.targets[pid]
        subscribed = self._subscribed.get(pid, set())
        topic = self._topics.resolve(pid, queue, library=target.library, subscribed=subscribed)
        if topic is None and target.uri:
            subscribed = self.refresh_subscriptions(pid)   # subscribed since we looked?
            topic = self._topics.resolve(pid, queue, library=target.library,
                                         subscribed=subscribed)
        return topic

    def collect(self, *, now=None):
        """(window_s, {(pid, topic): numbers}) since the previous collect.

        Every subscribed topic of every target appears (empty numbers when quiet).
        """
        now = time.monotonic() if now is None else now
        window_s = max(now - self._window_start, 1e-9)
        self._window_start = now
        self.last_window_s = window_s
        per_topic = {}
        publications = {}
        for (pid, obj), numbers in self.probes.collect().items():
            if 'published' in numbers or 'serialization' in numbers:
                publications[(pid, obj)] = numbers      # obj is a Publication*
                continue
            if pid not in self.targets:
                continue
            topic = self._topic_of(pid, obj) or f'<unresolved queue 0x{obj:x}>'
            merge_numbers(per_topic.setdefault((pid, topic), {}), numbers)
        self.transport.feed(*self.probes.events())
        self._add_links(per_topic, publications)
        for pid in self.targets:
            for topic in self._subscribed.get(pid, ()):
                per_topic.setdefault((pid, topic), {})
        return window_s, per_topic

    def _add_links(self, per_topic, publications):
        """Per (subscriber, topic): one entry per publisher, keyed (publisher pid, intra)."""
        for link in self.transport.take().values():
            if link.subscriber_pid not in self.targets:
                continue
            topic = self._topic_of(link.subscriber_pid, link.queue)
            if topic is None:
                continue
            numbers = {'messages': link.messages, 'dropped': link.dropped}
            for name, acc in link.stages.items():
                numbers[name] = acc
            ser = publications.get((link.publisher_pid, link.publication), {})
            if 'serialization' in ser:
                acc = Accumulator()
                acc.add(*ser['serialization'])
                numbers['serialization'] = acc
            links = per_topic.setdefault((link.subscriber_pid, topic), {}).setdefault('links', {})
            merge_numbers(links.setdefault((link.publisher_pid, link.intra), {}), numbers)

    def publisher_name(self, pid):
        target = self.publishers.get(pid) or self.targets.get(pid)
        return target.node if target else f'pid:{pid}'

    def build(self, per_topic, window_s, *, topics=None):
        """TopicBreakdowns from collected numbers; `topics` limits them to those names."""
        result = []
        for (pid, topic), numbers in sorted(per_topic.items()):
            if (topics and topic not in topics) or pid not in self.targets:
                continue
            target = self.targets[pid]
            names = {p: self.publisher_name(p) for p, _ in numbers.get('links', {})}
            result.append(build_breakdown(node=target.node, pid=pid, host=target.host,
                                          topic=topic, window_s=window_s, numbers=numbers,
                                          missing=target.missing,
                                          audited=pid in self._audited,
                                          publisher_names=names,
                                          transport_note=self._transport_note()))
        return result

    def _transport_note(self):
        if not self.publisher_notes:
            return ''
        return '; '.join(f'publisher {node} not traced: {why}'
                         for node, why in sorted(self.publisher_notes.items()))

    def snapshot(self, *, topics=None, now=None):
        """TopicBreakdowns of the window since the previous snapshot."""
        window_s, per_topic = self.collect(now=now)
        return self.build(per_topic, window_s, topics=topics)
