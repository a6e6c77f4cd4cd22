"""One window: the kernel's rows and transport events -> a Window of TopicNumbers."""
import time
from collections import Counter

from ..model.histogram import Accumulator
from ..system.msgtypes import has_header
from ..model.numbers import (CauseKey, LinkKey, LinkNumbers, PathKey, TopicKey, TopicNumbers,
                             Window)


STAMP_TRIES = 10        # windows a queue's type may stay unknown before its stamps are not read


class WindowCollector:
    """Reads the BpfProgram once per window, names its objects and feeds the transport
    matcher; every topic a subscriber reported appears, empty when quiet."""

    def __init__(self, program, attachments, names, matcher, *, connections=None,
                 nodelets=None, clock=time.monotonic):
        self.program = program
        self.nodelets = nodelets           # Nodelets: which nodelet a manager's queue feeds
        self.connections = connections     # KernelConnections, checked once per window
        self.attachments = attachments
        self.names = names
        self.matcher = matcher
        self.remote = None                 # RemoteLinks: publishers on other hosts
        self.clock = clock
        self.window_start = clock()
        self.last_window_s = 0.0
        self.lost = Counter()           # what the kernel could not record, ever
        self.lost_recent = {}           # ... in the last window
        self._queued = {}               # (pid, queue) -> its length when last seen
        self._unmatchable = set()       # (pid, queue) whose messages emit no transport event
        self._queue_topics = {}         # (pid, queue) -> topic, of every queue seen
        self._stamped = {}              # (pid, queue) -> its type starts with a header
        self._stamp_tries = {}          # (pid, queue) -> windows its type was unknown
        self._no_socket_reads = set()   # pids none of whose queues can be matched
        # Serialization of publications no link of the window received from: a message
        # published at a window's end arrives in the next one (kept for one window).
        self._carried = {}              # (pid, Publication*) -> Accumulator

    def restart(self):
        """The next window starts now (when the first target is attached)."""
        self.window_start = self.clock()

    def collect(self, *, now=None):
        """The Window since the previous collect (or since the first attach)."""
        now = self.clock() if now is None else now
        window = Window(window_s=max(now - self.window_start, 1e-9))
        self.window_start = now
        self.last_window_s = window.window_s
        queues, publications = self.program.tables.collect()
        self.program.learned()
        lengths = {(r.pid, r.queue): r.numbers.queued for r in queues
                   if r.numbers.queued is not None}
        self._queued = {k: n for k, n in {**self._queued, **lengths}.items()
                        if k[0] in self.attachments.subscribers}
        self._stamped = {k: v for k, v in self._stamped.items()
                         if k[0] in self.attachments.subscribers}
        self._stamp_tries = {k: v for k, v in self._stamp_tries.items()
                             if k[0] in self.attachments.subscribers}
        active = [(r.pid, r.queue, r.numbers) for r in queues]
        seen = {(pid, queue) for pid, queue, _ in active}
        # A queue neither pushed nor served this window kept its length.
        quiet = [(pid, queue, TopicNumbers(queued=n))
                 for (pid, queue), n in self._queued.items() if (pid, queue) not in seen]
        if self.nodelets is not None:
            subscribers = self.attachments.subscribers
            self.nodelets.update(
                active, lambda pid, queue: self.names.topic('queue', subscribers[pid], queue),
                self.attachments.subscribed)
        topics = {}
        for pid, queue, numbers in quiet + active:
            target = self.attachments.subscribers.get(pid)
            if target is None:
                continue
            topic = topics[pid, queue] = self.names.topic('queue', target, queue)
            self._stamp_ages(pid, queue, topic, numbers)
            topic = topic or f'<unresolved queue 0x{queue:x}>'
            key = TopicKey(pid, topic, self._nodelet(pid, queue))
            if key in window.topics:        # several queues of one topic in one process
                window.topics[key].merge(numbers)
            else:
                window.topics[key] = numbers
        self._mark_unmatchable(topics)
        self.matcher.feed(self.program.events())
        if self.connections is not None:
            self.connections.check()
            self.connections.discover(self.attachments.subscribers,
                                      self.attachments.publishers)
        self.lost_recent = {k: n for k, n in self.program.tables.lost().items() if n}
        self.lost.update(self.lost_recent)
        serialization = {(row.pid, row.publication): row.numbers.serialization
                         for row in publications}
        for row in publications:
            if row.numbers.sampling_age.count:
                topic = self._published_topic(row.pid, row.publication)
                if topic:
                    window.sampling.setdefault((row.pid, topic), Accumulator()).merge(
                        row.numbers.sampling_age)
        self._add_links(window, serialization)
        self._add_causes(window)
        present = {(k.pid, k.topic) for k in window.topics}
        for pid in self.attachments.subscribers:
            for topic in self.attachments.subscribed(pid):
                if (pid, topic) not in present:
                    window.topics[TopicKey(pid, topic)] = TopicNumbers()
        tables, traced = self.program.tables, self.attachments.subscribers
        window.timers = {k: n for k, n in tables.timers.items() if k.pid in traced}
        window.services = {k: n for k, n in tables.services.items() if k.pid in traced}
        window.tf = {k: n for k, n in tables.tf.items() if k.pid in traced}
        return window

    def _add_path(self, window, link_id, topic, numbers):
        source = self._published_topic(link_id.publisher_pid, link_id.publication)
        if source is not None:
            key = PathKey(link_id.publisher_pid, source, link_id.subscriber_pid, topic)
            window.paths.setdefault(key, LinkNumbers()).merge(numbers)

    def _published_topic(self, pid, publication):
        target = self.attachments.target(pid)
        return target and self.names.topic('publication', target, publication)

    def _add_causes(self, window):
        """Which input topic's callbacks published which output topic, per process."""
        for (pid, queue, publication, sampled), count in self.program.tables.causes().items():
            target = self.attachments.subscribers.get(pid)
            source = target and self.names.topic('queue', target, queue)
            output = source and self._published_topic(pid, publication)
            if output:
                key = CauseKey(pid, source, output, sampled)
                window.causes[key] = window.causes.get(key, 0) + count

    def _nodelet(self, pid, queue):
        return self.nodelets.name(pid, queue) if self.nodelets is not None else ''

    def _stamp_ages(self, pid, queue, topic, numbers):
        """Keep a queue's stamp ages only when its type starts with a std_msgs/Header;
        tell the kernel to stop reading stamps of the others (subscriber.c)."""
        key = (pid, queue)
        if key not in self._stamped and topic in self.attachments.topic_types:
            stamped = has_header(self.attachments.topic_types[topic])
            tries = self._stamp_tries[key] = self._stamp_tries.get(key, 0) + 1
            if stamped is not None or tries >= STAMP_TRIES:     # unknown: asked again
                self._stamped[key] = bool(stamped)
                self._stamp_tries.pop(key, None)
                if not stamped:
                    self.program.tables.set_unstamped(pid, queue)
        if not self._stamped.get(key):
            numbers.stages.pop('stamp_age', None)
            numbers.stamp_ahead = 0

    def forget(self, pid):
        """A process detached: the kernel's marks of its queues go with it, and a process
        traced again (the same PID) is marked again at its next window -- its flags in
        traced_tgids went with the detach."""
        for key in [k for k in self._unmatchable if k[0] == pid]:
            self._unmatchable.discard(key)
            self.program.tables.set_matchable(*key, True)
        self._no_socket_reads.discard(pid)

    def _mark_unmatchable(self, topics):
        """Tell the kernel which queues' messages no traced publisher sent: they get no
        fingerprint and no ring-buffer event (subscriber.c). `topics`: (pid, queue) ->
        topic of the queues seen in this window."""
        attached = self.attachments.subscribers
        self._queue_topics = {k: t for k, t in {**self._queue_topics, **topics}.items()
                              if k[0] in attached}
        seen = {k for k, topic in self._queue_topics.items()
                if topic is not None and not self.attachments.matchable(topic)}
        for key in self._unmatchable - seen:
            self.program.tables.set_matchable(*key, True)
        for key in seen - self._unmatchable:
            self.program.tables.set_matchable(*key, False)
        self._unmatchable = seen
        # A process none of whose queues can match needs no socket reads recorded.
        no_reads = {k[0] for k in self._queue_topics} - {k[0] for k in self._queue_topics
                                                        if k not in seen}
        # Nor one counted by its own statistics (no receive probe: the budget's stats).
        no_reads |= {pid for pid in self.attachments.subscribers
                     if self.program.mode(pid) == 'stats'}
        for pid in no_reads ^ self._no_socket_reads:
            self.program.tables.set_socket_reads(pid, pid not in no_reads)
        self._no_socket_reads = no_reads

    def _add_links(self, window, serialization):
        """Per (subscriber, topic): one LinkNumbers per publisher (LinkKey)."""
        carried, fresh = self._carried, dict(serialization)
        for key, acc in carried.items():
            merged = Accumulator()
            merged.merge(acc)
            if key in serialization:
                merged.merge(serialization[key])
            serialization[key] = merged
        used = set()
        links = self.matcher.take()
        for link_id, matched in self.program.tables.kernel_links.items():
            if link_id in links:
                links[link_id].messages += matched.messages
                links[link_id].dropped += matched.dropped
                for name, acc in matched.stages.items():
                    links[link_id].stages[name].merge(acc)
            else:
                links[link_id] = matched
        for link_id, matched in links.items():
            target = self.attachments.subscribers.get(link_id.subscriber_pid)
            topic = target and self.names.topic('queue', target, link_id.queue)
            if topic is None:
                continue
            numbers = LinkNumbers(messages=matched.messages, dropped=matched.dropped,
                                  stages=dict(matched.stages))
            if link_id.path:
                self._add_path(window, link_id, topic, numbers)
                continue
            ser = serialization.get((link_id.publisher_pid, link_id.publication))
            used.add((link_id.publisher_pid, link_id.publication))
            if ser is not None and ser.count:
                numbers.stages['serialization'] = ser
            key = TopicKey(link_id.subscriber_pid, topic,
                           self._nodelet(link_id.subscriber_pid, link_id.queue))
            topic_numbers = window.topics.setdefault(key, TopicNumbers())
            key = LinkKey(link_id.publisher_pid, link_id.intra)
            known = topic_numbers.links.get(key)
            # `numbers` is this window's own (copied only where two publications of one
            # process meet: a serialization Accumulator may be shared by links)
            topic_numbers.links[key] = numbers if known is None else \
                LinkNumbers().merge(known).merge(numbers)
        self._carried = {k: acc for k, acc in fresh.items() if k not in used and acc.count}
        if self.remote is not None:
            self._add_remote_links(window)

    def _add_remote_links(self, window):
        """Links from publishers on other hosts (engine/remote.py)."""
        for link_id, matched in self.remote.collect().items():
            target = self.attachments.subscribers.get(link_id.subscriber_pid)
            topic = target and self.names.topic('queue', target, link_id.queue)
            if topic is None:
                continue
            numbers = LinkNumbers(messages=matched.messages, dropped=matched.dropped,
                                  stages=dict(matched.stages), below_clock=matched.below_clock,
                                  clock=(matched.offset_ns, matched.uncertainty_ns))
            key = TopicKey(link_id.subscriber_pid, topic,
                           self._nodelet(link_id.subscriber_pid, link_id.queue))
            topic_numbers = window.topics.setdefault(key, TopicNumbers())
            key = LinkKey(0, False, link_id.publisher, link_id.host)
            topic_numbers.links.setdefault(key, LinkNumbers()).merge(numbers)
