"""Name the kernel's objects: a SubscriptionQueue* or Publication* -> its topic, read
from the object's std::string member in the target's memory.

The member's offset is not hard-coded: candidate offsets are tried and one is
trusted only when the strings it yields are topics the node itself reports
(getSubscriptions / getPublications of its slave API).
"""
import struct

from ..errors import ProcessGone

CANDIDATE_OFFSETS = range(8, 136, 8)          # SubscriptionQueue::topic_ (24 in 1.15)
PUBLICATION_OFFSETS = range(0, 136, 8)        # Publication::name_
MAX_TOPIC_LEN = 1024


def read_std_string(procfs, pid, address):
    """libstdc++ std::string at `address` (pointer, length) -> str or None."""
    raw = procfs.read_memory(pid, address, 16)
    if len(raw) != 16:
        return None
    data, length = struct.unpack('<QQ', raw)
    if not 0 < length <= MAX_TOPIC_LEN or data == 0:
        return None
    text = procfs.read_memory(pid, data, length)
    if len(text) != length:
        return None
    try:
        return text.decode('ascii')
    except UnicodeDecodeError:
        return None


class TopicResolver:
    """Learns the topic_ offset per roscpp ELF and caches queue -> topic per pid."""

    def __init__(self, procfs, offsets=CANDIDATE_OFFSETS):
        self.procfs = procfs
        self.candidates = offsets
        self._offset_by_library = {}
        self._names = {}          # (pid, queue) -> topic

    def forget(self, pid):
        self._names = {k: v for k, v in self._names.items() if k[0] != pid}

    def resolve(self, pid, queue, *, library, subscribed):
        """Topic of SubscriptionQueue `queue` in `pid`, or None if not verifiable.

        `subscribed` is the set of topics the master lists for the node; a name is
        only accepted when it is in that set.
        """
        key = (pid, queue)
        if key in self._names:
            return self._names[key]
        offsets = self._offset_by_library.get(library)
        for offset in ([offsets] if offsets is not None else self.candidates):
            try:
                name = read_std_string(self.procfs, pid, queue + offset)
            except ProcessGone:
                return None
            if name is not None and name in subscribed:
                self._offset_by_library[library] = offset
                self._names[key] = name
                return name
        return None

    def offset(self, library):
        return self._offset_by_library.get(library)


class ObjectNames:
    """Topic names of subscription queues and publications, per traced process.

    What a node reports is asked once and again only when an object's name is not
    among the answers (the node subscribed or advertised since)."""

    def __init__(self, procfs):
        self._kinds = {
            'queue': (TopicResolver(procfs), lambda target: target.subscriptions()),
            'publication': (TopicResolver(procfs, offsets=PUBLICATION_OFFSETS),
                            lambda target: target.publications()),
        }
        self._reported = {}         # (kind, pid) -> topics the node reported
        self.rospy = None           # RospySubscribers: a rospy node's sockets -> topics

    def reported(self, kind, target, *, refresh=False):
        """Topics `target` reported for `kind` ('queue': subscribed, 'publication':
        published), asking it when not known yet or when `refresh`."""
        key = (kind, target.pid)
        if refresh or key not in self._reported:
            self._reported[key] = self._kinds[kind][1](target)
        return self._reported[key]

    def topic(self, kind, target, obj):
        """Topic of object `obj` (a SubscriptionQueue* or Publication*) in `target`,
        or None when no candidate reads back as a topic the node reports. A rospy
        node's objects are its connections' sockets (engine/rospy.py)."""
        if target.client == 'rospy':
            return self.rospy.topic(target.pid, obj) if self.rospy is not None else None
        resolver = self._kinds[kind][0]
        for refresh in (False, True):
            if refresh and not target.uri:
                return None
            topic = resolver.resolve(target.pid, obj, library=target.library,
                                     subscribed=self.reported(kind, target, refresh=refresh))
            if topic is not None:
                return topic
        return None

    def forget(self, pid):
        for resolver, _ in self._kinds.values():
            resolver.forget(pid)
        self._reported = {k: v for k, v in self._reported.items() if k[1] != pid}
