"""One window: the kernel's rows and transport events -> a Window of TopicNumbers."""
import time
from collections import Counter

from ..model.numbers import LinkKey, LinkNumbers, TopicKey, TopicNumbers, Window


class WindowCollector:
    """Reads the BpfProgram once per window, names its objects and feeds the transport
    matcher; every topic a subscriber reported appears, empty when quiet."""

    def __init__(self, program, attachments, names, matcher, *, clock=time.monotonic):
        self.program = program
        self.attachments = attachments
        self.names = names
        self.matcher = matcher
        self.clock = clock
        self.window_start = clock()
        self.last_window_s = 0.0
        self.lost = Counter()           # what the kernel could not record, ever
        self.lost_recent = {}           # ... in the last window

    def restart(self):
        """The next window starts now (when the first target is attached)."""
        self.window_start = self.clock()

    def collect(self, *, now=None):
        """The Window since the previous collect (or since the first attach)."""
        now = self.clock() if now is None else now
        window = Window(window_s=max(now - self.window_start, 1e-9))
        self.window_start = now
        self.last_window_s = window.window_s
        queues, publications = self.program.collect()
        for row in queues:
            target = self.attachments.subscribers.get(row.pid)
            if target is None:
                continue
            topic = (self.names.topic('queue', target, row.queue)
                     or f'<unresolved queue 0x{row.queue:x}>')
            window.topics.setdefault(TopicKey(row.pid, topic), TopicNumbers()).merge(row.numbers)
        self.matcher.feed(self.program.events())
        self.lost_recent = {k: n for k, n in self.program.lost().items() if n}
        self.lost.update(self.lost_recent)
        serialization = {(row.pid, row.publication): row.numbers.serialization
                         for row in publications}
        self._add_links(window, serialization)
        for pid in self.attachments.subscribers:
            for topic in self.attachments.subscribed(pid):
                window.topics.setdefault(TopicKey(pid, topic), TopicNumbers())
        return window

    def _add_links(self, window, serialization):
        """Per (subscriber, topic): one LinkNumbers per publisher (LinkKey)."""
        for link_id, matched in self.matcher.take().items():
            target = self.attachments.subscribers.get(link_id.subscriber_pid)
            topic = target and self.names.topic('queue', target, link_id.queue)
            if topic is None:
                continue
            numbers = LinkNumbers(messages=matched.messages, dropped=matched.dropped,
                                  stages=dict(matched.stages))
            ser = serialization.get((link_id.publisher_pid, link_id.publication))
            if ser is not None and ser.count:
                numbers.stages['serialization'] = ser
            topic_numbers = window.topics.setdefault(TopicKey(link_id.subscriber_pid, topic),
                                                     TopicNumbers())
            key = LinkKey(link_id.publisher_pid, link_id.intra)
            topic_numbers.links.setdefault(key, LinkNumbers()).merge(numbers)
