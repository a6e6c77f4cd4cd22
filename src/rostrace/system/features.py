"""Which kernel features rostrace uses are present here, found by asking the kernel
(creating a map, reading an empty one in a batch, looking at tracefs), and what rostrace
does without each: `rostrace doctor` prints the matrix (README: Requirements)."""
import ctypes
import errno
import os
import platform
from dataclasses import dataclass

from ..probes.links import bpf_call

BPF_MAP_CREATE = 0
BPF_MAP_LOOKUP_AND_DELETE_BATCH = 25
BPF_MAP_TYPE_HASH = 1
BPF_MAP_TYPE_RINGBUF = 27
TRACEFS = '/sys/kernel/tracing'


@dataclass(frozen=True)
class Feature:
    name: str
    since: str              # the mainline kernel (or config) that brings it
    without: str            # what rostrace does where it is missing
    required: bool          # rostrace does not start without it


FEATURES = (
    Feature('BPF ring buffer', 'Linux 5.8', 'events (transport, capture, actions) go through '
            'per-CPU perf buffers, put in time order by the monitor (held back 20 ms)', False),
    Feature('bpf_probe_read_user', 'Linux 5.5', 'handlers read user memory with bpf_probe_read '
            '(x86 and arm64 only)', False),
    Feature('batched map reads', 'Linux 5.6', 'window maps are read entry by entry: the same '
            'numbers, more monitor CPU', False),
    Feature('uprobe_multi links', 'Linux 6.6', 'uprobes are perf events: stopping takes ~0.65 s '
            'per traced node', False),
    Feature('bpf_get_ns_current_pid_tgid', 'Linux 5.7', 'a monitor inside a PID namespace (a '
            'container without --pid=host) cannot name tasks; not used on the host', False),
)


@dataclass(frozen=True)
class Tracepoints:
    """Tracepoints one part of the program needs (compiled out with `cflag` where one is
    missing, and the numbers they give are unavailable with the reason `without`)."""
    name: str               # in ROSTRACE_NO_TRACEPOINTS (the test switch)
    events: tuple           # under tracefs/events
    since: str
    cflag: str              # probes/bpf: the handlers left out
    without: str

    @property
    def feature(self):
        """Its name among FEATURES."""
        return f'{self.name} tracepoints ({", ".join(self.events)})'

    @property
    def reason(self):
        return f'the kernel has no {" / ".join(e.replace("/", ":") for e in self.events)} ' \
               f'tracepoint'


TRACEPOINTS = (
    Tracepoints('sched', ('sched/sched_switch', 'sched/sched_waking'),
                'any kernel with CONFIG_TRACEPOINTS', '-DNO_TP_SCHED',
                'the scheduler splits (busy / starved / idle, on CPU / run queue / blocked) '
                'and context switches per callback are unavailable'),
    Tracepoints('page_fault', ('exceptions/page_fault_user',), 'Linux 3.13, x86',
                '-DNO_TP_PAGE_FAULT', 'page faults per callback are unavailable'),
    Tracepoints('recvfrom', ('syscalls/sys_enter_recvfrom', 'syscalls/sys_exit_recvfrom'),
                'CONFIG_FTRACE_SYSCALLS', '-DNO_TP_RECVFROM',
                'links across processes are not measured (the socket a message came '
                'through is not known)'),
    Tracepoints('sendto', ('syscalls/sys_enter_sendto',), 'CONFIG_FTRACE_SYSCALLS',
                '-DNO_TP_SENDTO', "links across processes are not measured (a publisher's "
                'sends are not seen)'),
    Tracepoints('tcp_probe', ('tcp/tcp_probe',), 'Linux 4.16', '-DNO_TP_TCP_PROBE',
                'the network / socket wait split of transport is unavailable'),
    Tracepoints('sys_enter', ('raw_syscalls/sys_enter',), 'CONFIG_FTRACE_SYSCALLS',
                '-DNO_TP_SYS_ENTER', "the real-time audit's syscall counts are unavailable"),
)
TRACEPOINTS_SWITCH = 'ROSTRACE_NO_TRACEPOINTS'      # comma-separated Tracepoints names
FEATURES += tuple(Feature(t.feature, t.since, t.without, False) for t in TRACEPOINTS)


class _MapCreate(ctypes.Structure):
    _fields_ = [('map_type', ctypes.c_uint32), ('key_size', ctypes.c_uint32),
                ('value_size', ctypes.c_uint32), ('max_entries', ctypes.c_uint32),
                ('map_flags', ctypes.c_uint32), ('_tail', ctypes.c_uint8 * 108)]


class _Batch(ctypes.Structure):
    _fields_ = [('in_batch', ctypes.c_uint64), ('out_batch', ctypes.c_uint64),
                ('keys', ctypes.c_uint64), ('values', ctypes.c_uint64),
                ('count', ctypes.c_uint32), ('map_fd', ctypes.c_uint32),
                ('elem_flags', ctypes.c_uint64), ('flags', ctypes.c_uint64),
                ('_tail', ctypes.c_uint8 * 72)]


_bpf = bpf_call


def _map(map_type, key_size, value_size, max_entries):
    return _bpf(BPF_MAP_CREATE, _MapCreate(map_type=map_type, key_size=key_size,
                                           value_size=value_size, max_entries=max_entries))


def has_ringbuf():
    fd = _map(BPF_MAP_TYPE_RINGBUF, 0, 0, 4096)
    if fd < 0:
        return False
    os.close(fd)
    return True


def has_batch_ops():
    """An empty hash map read in a batch answers ENOENT where batches exist."""
    fd = _map(BPF_MAP_TYPE_HASH, 4, 4, 1)
    if fd < 0:
        return False
    try:
        out, keys, values = ctypes.c_uint32(), ctypes.c_uint32(), ctypes.c_uint32()
        attr = _Batch(out_batch=ctypes.addressof(out), keys=ctypes.addressof(keys),
                      values=ctypes.addressof(values), count=1, map_fd=fd)
        return _bpf(BPF_MAP_LOOKUP_AND_DELETE_BATCH, attr) in (0, -errno.ENOENT)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Fallback:
    feature: str            # a FEATURES name
    cflag: str              # what the BPF program is compiled with instead (common.c), or ''
    switch: str             # environment variable that forces it (tests, a kernel it misjudges)


PERF_EVENTS = Fallback('BPF ring buffer', '-DPERF_EVENTS', 'ROSTRACE_NO_RINGBUF')
PROBE_READ = Fallback('bpf_probe_read_user', '-DNO_PROBE_READ_USER',
                      'ROSTRACE_NO_PROBE_READ_USER')
ENTRY_READS = Fallback('batched map reads', '', 'ROSTRACE_NO_BATCH_OPS')   # probes/tables.py


def fallbacks(release=None, environ=os.environ):
    """The Fallbacks the program needs on this kernel: where the feature is missing, or
    its switch is set to 1."""
    release = release or platform.release()
    missing = {PERF_EVENTS: lambda: not has_ringbuf(),
               PROBE_READ: lambda: not kernel_at_least(release, '5.5'),
               ENTRY_READS: lambda: not has_batch_ops()}
    return [f for f, gone in missing.items() if environ.get(f.switch) == '1' or gone()]


def kernel_at_least(release, version):
    """`release` (uname -r) >= 'X.Y'."""
    try:
        have = tuple(int(x) for x in release.split('-')[0].split('.')[:2])
        want = tuple(int(x) for x in version.split('.')[:2])
    except ValueError:
        return False
    return have >= want


def _tracepoints(tracefs, *events):
    """True/False, or None where tracefs is not there to look (not mounted)."""
    if tracefs is None:
        return None
    return all(os.path.isdir(os.path.join(tracefs, 'events', e)) for e in events)


def missing_tracepoints(tracefs=TRACEFS, environ=os.environ):
    """The Tracepoints this kernel lacks one event of (or named in the test switch);
    none where tracefs cannot be read (preflight says so)."""
    forced = _named(environ)
    unknown = forced - {t.name for t in TRACEPOINTS}
    if unknown:
        raise ValueError(f'{TRACEPOINTS_SWITCH}: no such tracepoints {sorted(unknown)} (known: '
                         f'{", ".join(t.name for t in TRACEPOINTS)})')
    events = os.path.join(tracefs, 'events')
    readable = os.path.isdir(events)
    return [t for t in TRACEPOINTS
            if t.name in forced or (readable and not _tracepoints(tracefs, *t.events))]


def _named(environ):
    return {n.strip() for n in environ.get(TRACEPOINTS_SWITCH, '').split(',') if n.strip()}


def forced(environ=os.environ):
    """{FEATURES name: the test switch that turns it off} of the switches set."""
    out = {f.feature: f'{f.switch}=1' for f in (PERF_EVENTS, PROBE_READ, ENTRY_READS)
           if environ.get(f.switch) == '1'}
    out.update({t.feature: f'{TRACEPOINTS_SWITCH} names {t.name}' for t in TRACEPOINTS
                if t.name in _named(environ)})
    return out


def detect(tracefs, *, uprobe_links=None):
    """[(Feature, present: True/False/None (not known))] for the running kernel.
    `tracefs`: where it is mounted (None: not mounted, tracepoints not known);
    `uprobe_links`: what the loaded program found (probes/uprobes.py), if it was loaded."""
    release = platform.release()
    found = {
        'BPF ring buffer': has_ringbuf(),
        'bpf_probe_read_user': kernel_at_least(release, '5.5'),
        'batched map reads': has_batch_ops(),
        'uprobe_multi links': uprobe_links,
        'bpf_get_ns_current_pid_tgid': kernel_at_least(release, '5.7'),
    }
    for t in TRACEPOINTS:
        found[t.feature] = _tracepoints(tracefs, *t.events)
    return [(f, found[f.name]) for f in FEATURES]
