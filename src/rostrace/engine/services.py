"""roscpp services of the traced processes: which service a kernel key names, and the
window's ServiceNumbers -> ServiceBreakdown (probes/bpf/services.c measures).

Server side, a key is a ServicePublication*: its name is read once from the process
(std::string name_, untrusted memory: length capped, bytes decoded leniently); client
side, the kernel keeps the name the link carried, by its hash.
"""
import struct

from ..model.breakdown import build_service
from ..probes import abi

NAME_MAX = 256          # bytes of a service name read from a process


class Services:
    def __init__(self, procfs, attachments, tables):
        self.procfs = procfs
        self.attachments = attachments
        self.tables = tables
        self._names = {}        # ServiceKey -> name

    def forget(self, pid):
        self._names = {k: v for k, v in self._names.items() if k.pid != pid}

    def build(self, window):
        """ServiceBreakdowns of a Window's services, by process, name and role."""
        out = []
        for key, numbers in window.services.items():
            target = self.attachments.subscribers.get(key.pid)
            if target is None:
                continue
            out.append(build_service(node=target.node, pid=key.pid, host=target.host,
                                     service=self.name(key), role=key.role,
                                     window_s=window.window_s, numbers=numbers))
        return sorted(out, key=lambda s: (s.pid, s.service, s.role))

    def name(self, key):
        if key not in self._names:
            found = (self._server_name(key.pid, key.service) if key.role == 'server'
                     else self.tables.client_name(key.service))
            if found is None:               # not cached: it may be readable next time
                return f'<service 0x{key.service:x}>'
            self._names[key] = found
        return self._names[key]

    def _server_name(self, pid, publication):
        raw = self.procfs.read_memory(pid, publication + abi.SP_NAME_OFFSET, 16)
        if len(raw) < 16:
            return None
        data, length = struct.unpack('<QQ', raw)
        if not 0 < length <= NAME_MAX:
            return None
        text = self.procfs.read_memory(pid, data, length)
        return text.decode('utf-8', 'replace') if len(text) == length else None
