"""The BPF program's maps as Python reads and writes them (layouts: abi.py, generated
from bpf/rostrace.h): per-process flags, calibration, registered connections, the
window's aggregates, counters."""
import ctypes
import threading
import time

from ..model.decode import (HIT_NAMES, LOST_NAMES, decode_links, decode_services, decode_tf,
                            decode_timers,
                            decode_window)
from . import abi, links
from .connection_maps import ConnectionMaps, delete as _delete
from . import drain as drains
from .uprobes import close_fd

# Per-process sets in common.c, by the probe points that put a process in them.
TRACED, PUBLISHERS, AUDITED = b'traced_tgids', b'publisher_tgids', b'audited_tgids'
# A handler runs for microseconds; a vCPU the host preempts may hold one for longer.
WRITERS_WAIT_S = 0.2


class KernelTables:
    def __init__(self, bpf, syscall_name, lib, *, batch=True):
        self.bpf = bpf
        self._syscall_name = syscall_name
        self._generation = 0
        self._stats_fd = None    # keeps the kernel timing BPF runs (handler_runs)
        self.connections = ConnectionMaps(bpf)   # registered TCP connections
        self.kernel_links = {}   # LinkId -> MatchedLink matched in the kernel, last window
        self.timers = {}         # TimerKey -> TimerNumbers, last window
        self.services = {}       # ServiceKey -> ServiceNumbers, last window
        self.tf = {}             # TfKey -> TfNumbers, last window
        self._lib = lib
        self._drains = {}        # window map name -> drain.Drain
        self._buffers = drains.Buffers()    # shared by the drains (one at a time)
        self.fullest = 0.0       # the largest share of a histogram map used, last window
        # Batched reads (Linux 5.6+; features.ENTRY_READS): `_batch` False once refused
        # or where libbcc has no such call (BCC's own batch then), `_entries` never.
        self._entries = not batch
        self._batch = batch and hasattr(lib, 'bpf_lookup_and_delete_batch')
        self._tgid_filter = bytearray(abi.ID_FILTER_SLOTS)   # tgid_filter's bytes
        self._write_lock = threading.Lock()   # read-modify-writes: tgid_filter, queue_flags
        self.set_calibration(pair_ns=0, inner_ns=0)
        init = abi.QueueStats()
        for stat in init.rec:
            stat.min_ns = 2**64 - 1
        bpf[b'qstats_init'][ctypes.c_int(0)] = init

    def close(self):
        self.time_handlers(False)

    # -- per process --------------------------------------------------------------------
    def add_flag(self, table, pid, flag):
        self._filter_tgid(pid)
        key = ctypes.c_uint(pid)
        self.bpf[table][key] = ctypes.c_ubyte(self._flags(table, pid, 0) | flag)

    def _filter_tgid(self, pid):
        """Set `pid`'s byte in tgid_filter (common.c), before its entry: the tracepoints
        look a process up only where its byte is set. Words are written whole from a
        copy kept here (under a lock: the kernel never writes this filter)."""
        slot = pid % abi.ID_FILTER_SLOTS
        with self._write_lock:
            if self._tgid_filter[slot]:
                return
            self._tgid_filter[slot] = 1
            word = slot // 8
            value = int.from_bytes(self._tgid_filter[word * 8:word * 8 + 8], 'little')
            self.bpf[b'tgid_filter'][ctypes.c_int(word)] = ctypes.c_ulonglong(value)

    def set_flag(self, pid, flag, on):
        """Flag `flag` of a traced process (traced_tgids) on or off."""
        flags = self._flags(TRACED, pid, None)
        if flags is not None:
            self.bpf[TRACED][ctypes.c_uint(pid)] = ctypes.c_ubyte(
                (flags | flag) if on else (flags & ~flag))

    def flags(self, pid):
        """The traced_tgids flags of `pid` (0: not traced)."""
        return self._flags(TRACED, pid, 0)

    def _flags(self, table, pid, default):
        try:
            return self.bpf[table][ctypes.c_uint(pid)].value
        except KeyError:
            return default

    def set_socket_reads(self, pid, needed):
        """Whether the recvfrom tracepoint records which socket filled which buffer in
        subscriber `pid` (needed while any of its queues may be matched)."""
        self.set_flag(pid, abi.TGID_NO_ORIGIN, not needed)

    def set_matchable(self, pid, queue, matchable):
        """Whether the messages of queue `queue` of `pid` are fingerprinted and sent to
        user space as transport events (by default they are)."""
        self._queue_flag(pid, queue, abi.QUEUE_UNMATCHABLE, not matchable)

    def set_unstamped(self, pid, queue):
        """Queue `queue` of `pid` carries no std_msgs/Header first (or its type cannot
        be told): its messages' stamps are not read any more."""
        self._queue_flag(pid, queue, abi.QUEUE_UNSTAMPED, True)

    def _queue_flag(self, pid, queue, flag, on):
        """One bit of `queue_flags` (subscriber.c; only user space writes it)."""
        table, key = self.bpf[b'queue_flags'], abi.ObjectKey(tgid=pid, object=queue)
        with self._write_lock:
            try:
                old = table[key].value
            except KeyError:
                old = 0
            new = (old | flag) if on else (old & ~flag)
            if new == old:
                return
            if new:
                table[key] = ctypes.c_ubyte(new)
            else:
                _delete(table, key)

    def set_call_site(self, pid, lo, hi, reg):
        self.bpf[b'call_sites'][ctypes.c_uint(pid)] = abi.CallSite(lo, hi, reg, 0)

    def queue_register(self, pid):
        """The learned enum saved_register of `pid`, or None."""
        try:
            reg = self.bpf[b'call_sites'][ctypes.c_uint(pid)].reg
        except KeyError:
            return None
        return None if reg == abi.REG_UNKNOWN else reg

    def forget(self, pid):
        """Everything the maps hold of `pid` as a process (not its window's numbers)."""
        for name in (TRACED, PUBLISHERS, AUDITED, b'call_sites'):
            _delete(self.bpf[name], ctypes.c_uint(pid))
        for name in (b'nodelet_queues', b'causes', b'tf_queue_pairs', b'tf_unread_types',
                     b'action_objects'):
            table = self.bpf[name]
            for key in [k for k in table.keys() if k.tgid == pid]:
                _delete(table, key)
        # Which queues are unmatchable is the collector's to say (set_matchable).
        for key in [k for k in self.bpf[b'queue_flags'].keys() if k.tgid == pid]:
            self._queue_flag(pid, key.object, abi.QUEUE_UNSTAMPED, False)

    def causes(self):
        """{(pid, input queue, output publication, sampled): publishes so far}
        (paths.c)."""
        return {(k.tgid, k.queue, k.publication, bool(k.sampled)): v.value
                for k, v in self.bpf[b'causes'].items()}

    def nodelet_queues(self, pid):
        """{SubscriptionQueue*: nodelet queue*} seen in nodelet manager `pid` (nodelets.c)."""
        return {k.object: v.value for k, v in self.bpf[b'nodelet_queues'].items()
                if k.tgid == pid}

    # -- services -----------------------------------------------------------------------
    def client_name(self, name_hash):
        """The service name a traced client called, by its hash (services.c), or None."""
        try:
            text = bytes(self.bpf[b'client_names'][ctypes.c_ulonglong(name_hash)].text)
        except KeyError:
            return None
        return text.split(b'\0', 1)[0].decode('utf-8', 'replace')

    # -- tf2 ----------------------------------------------------------------------------
    def tf_pair(self, pair_hash):
        """(target frame, source frame) of a pair a traced process looked up (tf.c), or
        None."""
        try:
            pair = self.bpf[b'tf_pairs'][ctypes.c_ulonglong(pair_hash)]
            frames = [bytes(self.bpf[b'tf_frames'][ctypes.c_ulonglong(h)].text)
                      for h in (pair.target, pair.source)]
        except KeyError:
            return None
        return tuple(f.split(b'\0', 1)[0].decode('utf-8', 'replace') for f in frames)

    def tf_queue_pairs(self):
        """{(pid, SubscriptionQueue*): pair hash} of the latest TF wait in each queue's
        callbacks."""
        return {(k.tgid, k.object): v.value for k, v in self.bpf[b'tf_queue_pairs'].items()}

    def tf_unread_type(self, pid, pair_hash):
        """The std::type_info* of the latest exception a lookup of `pid` on that pair threw
        whose name the kernel could not read (TF_FAIL_UNREAD), or None."""
        try:
            return self.bpf[b'tf_unread_types'][abi.ObjectKey(tgid=pid, object=pair_hash)].value
        except KeyError:
            return None

    # -- actionlib ----------------------------------------------------------------------
    def set_action_object(self, pid, obj, copy_bytes):
        """How many bytes of each message of SubscriptionQueue* / Publication* `obj` of
        `pid` the kernel copies for user space (0: not an action topic; actions.c)."""
        self.bpf[b'action_objects'][abi.ObjectKey(tgid=pid, object=obj)] = ctypes.c_uint(
            copy_bytes)

    # -- calibration and costs ----------------------------------------------------------
    def set_calibration(self, *, pair_ns, inner_ns):
        calib = self.bpf[b'calib']
        calib[ctypes.c_int(0)] = ctypes.c_ulonglong(int(pair_ns))
        calib[ctypes.c_int(1)] = ctypes.c_ulonglong(int(inner_ns))

    def calibration_span(self):
        span = self.bpf[b'calib_span']
        total, count = span[ctypes.c_int(0)].value, span[ctypes.c_int(1)].value
        span.clear()
        return total, count

    def hits(self):
        """Probe hits so far per handler (summed over CPUs), for cost accounting:
        {'push': n, 'call': n, ...} (enum hit of rostrace.h)."""
        table = self.bpf[b'hits']
        return {name: sum(table.getvalue(ctypes.c_int(i))) for i, name in HIT_NAMES.items()}

    def handler_runs(self):
        """{handler name: (runs, ns)} of every loaded program, as the kernel has timed
        them so far (time_handlers: cumulative; model/budget.py HandlerTimes makes
        means of them); {} where it does not time them."""
        if self._stats_fd is None or self._stats_fd < 0:
            return {}
        return {name.decode(): program_runs(fn.fd) for name, fn in self.bpf.funcs.items()}

    def time_handlers(self, on):
        """The kernel's timing of BPF runs on or off. While on, every run of every BPF
        program on the machine takes two more clock reads (bench section 14: about
        half of what a budgeted target in `counts` mode costs): keep it short."""
        if on and self._stats_fd is None:
            try:
                self._stats_fd = links.enable_run_time_stats()
            except OSError:
                self._stats_fd = -1
        elif not on and self._stats_fd is not None:
            if self._stats_fd >= 0:
                close_fd(self._stats_fd)
            self._stats_fd = None

    def lost(self):
        """{'events': n, 'stats': n, 'hist': n}: what the kernel could not record since
        the previous call (a full ring buffer or map; enum lost_kind of rostrace.h)."""
        table = self.bpf[b'lost']
        out = {}
        for kind, name in LOST_NAMES.items():
            n = table[ctypes.c_int(kind)].value
            if n:
                table[ctypes.c_int(kind)] = ctypes.c_ulonglong(0)
            out[name] = n
        return out

    # -- the window ---------------------------------------------------------------------
    def collect(self):
        """([QueueRow], [PublicationRow]) since the previous collect (and, in
        `kernel_links`, {LinkId: MatchedLink} of the links matched in the kernel). The
        kernel writes the other generation meanwhile; the old one is read once no
        handler writes it any more (record() in common.c), so no sample falls between
        two windows."""
        old = self._generation
        self.fullest = 0.0
        self._generation = 1 - old
        self.bpf[b'generation'][ctypes.c_int(0)] = ctypes.c_uint(self._generation)
        writers = self.bpf[b'writers']
        deadline = time.monotonic() + WRITERS_WAIT_S
        while any(writers.getvalue(ctypes.c_int(old))) and time.monotonic() < deadline:
            time.sleep(0.0001)
        take = self._take
        stats, hists = take(f'stats{old}', drains.stat_rows), take(f'hist{old}', drains.histograms)
        queues, publications = decode_window(
            stats, hists, queue_stats=take(f'qstats{old}', drains.queue_rows),
            syscall_name=self._syscall_name)
        self.timers = decode_timers(stats, hists)
        self.services = decode_services(stats, hists)
        self.tf = decode_tf(stats, hists)
        self.kernel_links = decode_links(take(f'lstats{old}', drains.link_stat_rows),
                                         take(f'lhist{old}', drains.histograms))
        return queues, publications

    def _take(self, name, rows):
        """Every entry of window map `name`, which is left empty, as `rows` reads it
        (drain.py): in one batch, or entry by entry where the kernel has no batch
        operations."""
        if self._batch:
            try:
                d = self._drains.get(name)
                if d is None:
                    d = self._drains[name] = drains.Drain(self.bpf[name.encode()], self._lib,
                                                          self._buffers)
                out = rows(d)
                self._filled(name, d.taken, d.capacity)
                return out
            except OSError:
                self._batch = False
        table = self.bpf[name.encode()]
        items = drain(table, batch=not self._entries)
        self._filled(name, len(items), table.max_entries)
        return rows(drains.Items(items, table.Key, table.Leaf))

    def _filled(self, name, entries, capacity):
        """`fullest`: the largest share of its entries a histogram map used (they grow
        with the window: more distinct buckets; the monitor keeps its period short
        enough that none runs full)."""
        if capacity and 'hist' in name:
            self.fullest = max(self.fullest, entries / capacity)


def program_runs(fd):
    """(run_cnt, run_time_ns) of the BPF program behind `fd` of this process."""
    fields = {}
    try:
        with open(f'/proc/self/fdinfo/{fd}') as f:
            for line in f:
                key, _, value = line.partition(':')
                fields[key] = value.strip()
    except OSError:
        return 0, 0
    return int(fields.get('run_cnt', 0)), int(fields.get('run_time_ns', 0))


def drain(table, *, batch=True):
    """Every (key, value) of a BPF hash map, which is left empty: in batches, or entry
    by entry (no entry is lost: nothing writes a window map while it is read)."""
    try:
        if batch:
            return list(table.items_lookup_and_delete_batch())
    except Exception:         # kernels or BCC builds without batch operations
        pass
    items = list(table.items())
    for k, _ in items:
        _delete(table, k)
    return items
