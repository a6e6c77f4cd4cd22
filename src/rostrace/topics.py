"""Name each SubscriptionQueue by reading its std::string topic_ from the target.

The member's offset is not hard-coded: candidate offsets are tried and one is
trusted only when the strings it yields are topics the master lists for the node.
"""
import struct

from .errors import ProcessGone

CANDIDATE_OFFSETS = range(8, 136, 8)
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
