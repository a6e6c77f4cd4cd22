"""tf2 lookups of the traced processes: their probes in and out, which frames a kernel
pair hash names, and the window's TfNumbers -> TfBreakdown (probes/bpf/tf.c measures).

A process gets the tf2 probes when it maps libtf2_ros or libtf2 (TargetProcess.tf_points,
found at resolution); its TGID_TF flag tells the kernel to split its callbacks' TF waits
out. Frame ids come from the kernel's copy (cut at TF_FRAME_BYTES), by hash. A failure
whose exception type the kernel could not read is read here, from the process.
"""
import struct

from ..model.breakdown import build_tf
from ..model.numbers import TF_UNREAD, tf_failure_kind
from ..probes import abi

TYPE_NAME_BYTES = 64        # longer mangled names are not tf2's exceptions


class TfLookups:
    def __init__(self, program, attachments, procfs):
        self.program = program
        self.attachments = attachments
        self.procfs = procfs
        self.traced = set()         # pids with the tf2 probes in
        self._pairs = {}            # pair hash -> (target, source)
        self._kinds = {}            # (pid, std::type_info*) -> failure kind, or None

    def attached(self, target):
        """A traced subscriber: the tf2 probes go in when it uses tf2."""
        if not target.tf_points or target.pid in self.traced:
            return
        uprobes = self.program.uprobes
        added = []
        try:
            for handler, path, address in target.tf_points:
                added += uprobes.add(target.pid, path, address, handler)
        except Exception as e:      # gone meanwhile, or the kernel refused one
            uprobes.remove(target.pid, added)
            target.missing['tf2'] = f'tf2 probes not attached: {e}'     # said by trace
            return
        self.program.tables.set_flag(target.pid, abi.TGID_TF, True)
        self.traced.add(target.pid)

    def forget(self, pid):
        self.traced.discard(pid)
        self._kinds = {k: v for k, v in self._kinds.items() if k[0] != pid}

    def resolve(self, window):
        """The window's failures of a type the kernel could not read, by that type's
        name read from the process: a tf2 exception's kind, dropped when the type is not
        tf2's, 'other' when the process cannot tell any more (it threw inside a lookup)."""
        for key, numbers in window.tf.items():
            n = numbers.failures.pop(TF_UNREAD, 0)
            if not n:
                continue
            kind = self._throw_kind(key.pid, self.program.tables.tf_unread_type(
                key.pid, key.pair))
            if kind is not None:
                numbers.failures[kind] = numbers.failures.get(kind, 0) + n

    def _throw_kind(self, pid, type_info):
        if not type_info:
            return 'other'
        if (pid, type_info) not in self._kinds:
            raw = self.procfs.read_memory(pid, type_info + 8, 8)    # type_info::__name
            if len(raw) < 8:
                return 'other'
            name = self.procfs.read_memory(pid, struct.unpack('<Q', raw)[0], TYPE_NAME_BYTES)
            if not name:
                return 'other'
            self._kinds[pid, type_info] = tf_failure_kind(name.split(b'\0', 1)[0])
        return self._kinds[pid, type_info]

    def frames(self, pair):
        """(target, source) of a pair hash, or None while the kernel has not kept it."""
        if pair not in self._pairs:
            found = self.program.tables.tf_pair(pair)
            if found is None:
                return None
            self._pairs[pair] = found
        return self._pairs[pair]

    def queue_pairs(self):
        """{(pid, SubscriptionQueue*): (target, source)} of the latest TF wait in each
        queue's callbacks."""
        out = {}
        for key, pair in self.program.tables.tf_queue_pairs().items():
            frames = self.frames(pair)
            if frames:
                out[key] = frames
        return out

    def build(self, window):
        """TfBreakdowns of a Window's frame pairs, by process and frames."""
        out = []
        for key, numbers in window.tf.items():
            target = self.attachments.subscribers.get(key.pid)
            if target is None:
                continue
            frames = self.frames(key.pair) or (f'<frame pair 0x{key.pair:x}>', '')
            out.append(build_tf(node=target.node, pid=key.pid, host=target.host,
                                target_frame=frames[0], source_frame=frames[1],
                                window_s=window.window_s, numbers=numbers))
        return sorted(out, key=lambda t: (t.pid, t.target_frame, t.source_frame))
