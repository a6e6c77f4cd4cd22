"""rostrace's one BPF program (bpf/*.c): compiled once, its uprobes attached per PID.

The program is split by concern, one file each, compiled as one text (BCC rewrites map
accesses only in its main source, so the parts cannot be #included): common.c (which
processes are traced, per-window aggregation, hit counters), sched.c (scheduler and
page-fault accounting per thread), transport.c (what crosses processes), subscriber.c
(the receive path), paths.c (which message caused which), capture.c (spans for
`rostrace capture`), nodelets.c (which nodelet a queue feeds), publisher.c (the publish
side), timers.c, services.c, audit.c (real-time audit) and
calibrate.c (probe cost at start-up). bpf/rostrace.h is their contract with Python.
"""
import bisect
import ctypes
import os
import platform
import resource
import struct
import time
from typing import NamedTuple

from ..errors import ProcessGone, RostraceError, SystemNotReady
from ..system import features
from ..system.memory import release_compiler_memory
from ..system.symbols import PUBLISH_POINTS, RECEIVE_POINTS, SERVICE_POINTS, TIMER_POINTS
from . import abi
from .tables import AUDITED, PUBLISHERS, TRACED, KernelTables
from .uprobes import Uprobes

BPF_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'bpf')
SOURCES = ('common.c', 'sched.c', 'transport.c', 'sockets.c', 'paths.c', 'rospy.c', 'capture.c',
           'actions.c', 'subscriber.c',
           'nodelets.c',
           'publisher.c', 'tf.c', 'timers.c', 'services.c', 'audit.c', 'calibrate.c')
SYS_ENTER = b'raw_syscalls:sys_enter'
# Kernels >= 6.11 return from uretprobes through the `uretprobe` syscall: rostrace's own
# probes, not the callback's doing (arch/x86/entry/syscalls/syscall_64.tbl).
URETPROBE_SYSCALL = {'x86_64': 335}.get(platform.machine(), -1)

# probe point -> (entry handler or None, return handler or None)
HANDLERS = {
    'topic_publish': ('on_topic_manager_publish', None),
    'publication_publish': ('on_publication_publish', None),
    'queue_push': ('on_subscription_queue_push', None),
    'queue_call': (None, None),         # its entry only while learning (CALL_ENTRY)
    'callback_done': ('on_subscription_callback_done', None),
    'deserialize': ('on_message_deserializer_deserialize',
                    'on_message_deserializer_deserialize_return'),
    'timer_schedule': ('on_timer_schedule', None),
    'wall_timer_schedule': ('on_wall_timer_schedule', None),
    'steady_timer_schedule': ('on_steady_timer_schedule', None),
    'service_request': ('on_service_process_request', None),
    'service_callback': ('on_service_callback_call', None),
    'service_response': ('on_service_process_response', None),
    'client_call': ('on_service_client_call', None),
    'client_link_call': ('on_service_link_call', None),
    'client_finished': ('on_service_call_finished', None),
}
# Until the queue register of a process is learned (subscriber.c), SubscriptionQueue::call
# has its entry probe too.
CALL_ENTRY = 'on_subscription_queue_call'
# handler -> (probe point, return probe?)
HANDLER_POINTS = {fn: (point, i == 1) for point, fns in HANDLERS.items()
                  for i, fn in enumerate(fns) if fn}
HANDLER_POINTS[CALL_ENTRY] = ('queue_call', False)
# Overhead-budget modes (model/budget.py): the receive handlers each one goes without.
MODE_DROPS = {
    'full': frozenset(),
    'reduced': frozenset({'on_message_deserializer_deserialize_return'}),
    'counts': frozenset({'on_message_deserializer_deserialize',
                         'on_message_deserializer_deserialize_return',
                         'on_subscription_callback_done', CALL_ENTRY,
                         *(fn for point in (*TIMER_POINTS, *SERVICE_POINTS)
                           for fn in HANDLERS[point] if fn)}),
}
# `stats`: the node's own counters (engine/nodestats.py), no receive probe at all.
MODE_DROPS['stats'] = MODE_DROPS['counts'] | {'on_subscription_queue_push'}
# Per-process sets in common.c: which probe points put a process in which.
TGID_SETS = ((TRACED, RECEIVE_POINTS), (PUBLISHERS, PUBLISH_POINTS))


def _raise_probe_limits():
    """Every uprobe holds a file descriptor, and BCC refuses more than 1000 open probes
    by default (BCC_PROBE_LIMIT): a monitor of 150 nodes needs more. Raise the soft fd
    limit to the hard one and BCC's quota to what the fds allow."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    os.environ.setdefault('BCC_PROBE_LIMIT', str(max(1000, hard - 512)))


def program_text():
    """The program as BCC compiles it: the parts in order, each under a #line
    directive so compiler errors name the part's own file and line."""
    # linux/in6.h: Linux < 5.11 sizes tcp:tcp_probe's addresses as struct sockaddr_in6,
    # which BCC's generated argument struct needs complete.
    parts = ['#include <uapi/linux/ptrace.h>\n#include <linux/in6.h>\n#include "rostrace.h"\n']
    for name in SOURCES:
        with open(os.path.join(BPF_DIR, name)) as f:
            parts.append(f'#line 1 "{name}"\n{f.read()}')
    return ''.join(parts)


INIT_PID_NS_INO = 0xEFFFFFFC       # the initial PID namespace's inode (PROC_PID_INIT_INO)


def pidns_cflags(path='/proc/self/ns/pid'):
    """Compiler flags that make the program name processes as this one's PID namespace
    does (common.c), or none in the initial namespace."""
    st = os.stat(path)
    if st.st_ino == INIT_PID_NS_INO:
        return []
    dev = (os.major(st.st_dev) << 20) | os.minor(st.st_dev)    # the kernel's dev_t
    return [f'-DPIDNS_DEV={dev}ULL', f'-DPIDNS_INO={st.st_ino}ULL']


def load_bcc():
    try:
        import bcc
        import bcc.syscall
    except ImportError:
        raise SystemNotReady('BCC is not installed for this Python (import bcc failed)',
                             hint='apt-get install python3-bpfcc, and run with /usr/bin/python3')
    return bcc


class BpfProgram:
    """One compiled program; `attach(target)` puts its probes into one process only.

    Failure to attach leaves nothing of that target attached. `close()` removes
    every probe (BCC's perf-event uprobes also vanish if this process is killed).
    `uprobes` puts handlers in and takes them out; `tables` reads and writes the maps.
    """

    def __init__(self, *, cflags=()):
        bcc = load_bcc()
        _raise_probe_limits()
        self.fallbacks = features.fallbacks()
        try:
            self.missing_tracepoints = features.missing_tracepoints()
        except ValueError as e:
            raise SystemNotReady(str(e), hint=f'unset {features.TRACEPOINTS_SWITCH}')
        self._sys_enter = 'sys_enter' not in {t.name for t in self.missing_tracepoints}
        try:
            self.bpf = bcc.BPF(text=program_text().encode(),
                               cflags=['-I' + BPF_DIR,
                                       f'-DURETPROBE_SYSCALL={URETPROBE_SYSCALL}', *pidns_cflags(),
                                       *(f.cflag for f in self.fallbacks if f.cflag),
                                       *(t.cflag for t in self.missing_tracepoints), *cflags])
        except Exception as e:  # bcc raises bare Exception on compile errors
            raise SystemNotReady(f'BPF program failed to compile: {e}',
                                 hint='run `make setup` (kernel headers, tracefs) as root')
        # rospy subscribers' reads end in a program of their own (rospy.c rospy_match)
        tail = self.bpf.load_func(b'rospy_match', bcc.BPF.TRACEPOINT)
        self.bpf[b'rospy_tail'][ctypes.c_int(0)] = ctypes.c_int(tail.fd)
        self._points = {}        # pid -> probe point names attached
        self._call_entry = {}    # pid -> library identity, while its call entry is to go
        self._modes = {}         # pid -> budget mode other than 'full'
        self._learned = {}       # library identity -> queue register (subscriber.c)
        self._audited = set()
        # BCC attaches every TRACEPOINT_PROBE at load; the per-syscall one is only
        # wanted while a critical target is audited.
        if self._sys_enter:
            self.bpf.detach_tracepoint(SYS_ENTER)
        self.tables = KernelTables(self.bpf, lambda n: bcc.syscall.syscall_name(n).decode(),
                                   bcc.libbcc.lib,
                                   batch=features.ENTRY_READS not in self.fallbacks)
        self.uprobes = Uprobes(self.bpf, bcc)
        self.perf_events = any(f.cflag == features.PERF_EVENTS.cflag for f in self.fallbacks)
        self._events = TransportEvents(self.bpf, self.perf_events)
        self._action_events = ActionEvents(self.bpf, self.perf_events)
        release_compiler_memory()       # ~90 MiB of RSS the compile left (system/memory.py)

    def events(self):
        """Transport events (abi.XferEvent) since the previous call, oldest first (the
        ones a full ring buffer refused are counted by tables.lost())."""
        return self._events.take()

    def action_events(self):
        """actionlib message copies (abi.ActionEvent) since the previous call, oldest
        first (actions.c)."""
        return self._action_events.take()

    def capture(self, limit):
        """Start `rostrace capture`'s spans (capture.c): a SpanEvents that keeps at most
        `limit` of them (read along with the transport events); stop() ends it."""
        return SpanEvents(self.bpf, limit, self.perf_events)

    def attach(self, target, *, points=None, call_site=None):
        """Attach the available probe points of `target` (a TargetProcess): all of
        them, or those named in `points`. Attaching again adds what is missing.
        `call_site`: SubscriptionQueue::call's [lo, hi) in the target's memory; without
        it, that function gets its entry probe too (see subscriber.c)."""
        done = []
        have = self._points.setdefault(target.pid, set())
        wanted = [n for n in target.probe_points if (points is None or n in points)
                  and n not in have]
        call_entry = None
        try:
            for name in wanted:
                address = target.probe_points[name].address
                for fn, is_return in zip(HANDLERS[name], (False, True)):
                    if fn:
                        done += self.uprobes.add(target.pid, target.library, address, fn,
                                                 is_return=is_return)
                if name == 'queue_call':
                    call_entry = self._call_site(target, address, call_site, done)
        except Exception as e:
            self.uprobes.remove(target.pid, done)
            if target.pid not in self.uprobes.pids():
                self._forget_call_site(target.pid)
            if not os.path.exists(f'/proc/{target.pid}'):
                raise ProcessGone(target.pid, 'exited while attaching') from None
            raise RostraceError(f'attaching uprobes to pid {target.pid} failed: {e}',
                                hint='check `rostrace doctor`') from None
        have.update(wanted)
        if call_entry:
            self._call_entry[target.pid] = call_entry
        for table, points_of_set in TGID_SETS:
            if have & points_of_set:
                self.tables.add_flag(table, target.pid, abi.TGID_TRACED)

    def _call_site(self, target, address, call_site, done):
        """Where the receive path believes a register for the served queue, and that
        register when this library build already taught it; else the entry probe.
        Returns the library identity when the entry probe is to go once learned."""
        pid, library = target.pid, _identity(target.library)
        self.learned()
        reg = self._learned.get(library, abi.REG_UNKNOWN)
        if call_site:
            self.tables.set_call_site(pid, *call_site, reg)
        if call_site and reg != abi.REG_UNKNOWN:
            return None
        done += self.uprobes.add(pid, target.library, address, CALL_ENTRY)
        return library if call_site else None

    def learned(self):
        """Remove SubscriptionQueue::call's entry probe from every process whose queue
        register the kernel has learned, and remember that register for its library
        build (a process of the same build starts without that probe). Returns the
        pids changed."""
        changed = [pid for pid in self._call_entry if self._remember_register(pid)]
        for pid in changed:
            self._call_entry.pop(pid)
            self.uprobes.remove_handler(pid, CALL_ENTRY)
        return changed

    def _remember_register(self, pid):
        """True when `pid`'s queue register is learned; its library build keeps it."""
        reg = self.tables.queue_register(pid)
        if reg is not None and pid in self._call_entry:
            self._learned[self._call_entry[pid]] = reg
        return reg is not None

    def _forget_call_site(self, pid):
        self._call_entry.pop(pid, None)
        self.tables.forget(pid)

    def set_mode(self, target, mode):
        """Overhead-budget mode of an attached subscriber (MODE_DROPS): the receive
        handlers that mode goes without are detached, those it has are attached, and
        the scheduler split is off in every mode but 'full'."""
        pid = target.pid
        old = MODE_DROPS[self._modes.get(pid, 'full')]
        new = MODE_DROPS[mode]
        for fn in new - old:
            self.uprobes.remove_handler(pid, fn)
        for fn in old - new:
            if fn == CALL_ENTRY and pid not in self._call_entry:
                continue            # learned meanwhile: not needed any more
            point, is_return = HANDLER_POINTS[fn]
            if point in target.probe_points and not self.uprobes.of(pid, fn):
                self.uprobes.add(pid, target.library, target.probe_points[point].address,
                                 fn, is_return=is_return)
        if mode == 'full':
            self._modes.pop(pid, None)
        else:
            self._modes[pid] = mode
        self.tables.set_flag(pid, abi.TGID_NO_SCHED, mode != 'full')
        self.tables.set_flag(pid, abi.TGID_COUNTS, mode in ('counts', 'stats'))

    def mode(self, pid):
        return self._modes.get(pid, 'full')

    def audit(self, pid, libc_path, malloc_address):
        """Real-time audit of an attached process: malloc() and syscalls in callbacks."""
        self.uprobes.add(pid, libc_path, malloc_address, 'on_malloc')
        self.tables.add_flag(AUDITED, pid, 1)
        self.tables.set_flag(pid, abi.TGID_AUDITED, True)
        if not self._audited and self._sys_enter:
            self.bpf.attach_tracepoint(tp=SYS_ENTER, fn_name=b'tracepoint__raw_syscalls__sys_enter')
        self._audited.add(pid)

    def attach_calibration(self, pid, path, address, *, with_return=True):
        """The calibration target's probe: entry+return, or the entry alone."""
        self.uprobes.add(pid, path, address, 'on_calibrate_target')
        if with_return:
            self.uprobes.add(pid, path, address, 'on_calibrate_target_return', is_return=True)

    def detach(self, pid):
        self.detach_many([pid])

    def detach_many(self, pids):
        """Every probe of these processes, removed together (in parallel)."""
        self.uprobes.remove_all(pids)
        for pid in pids:
            self._points.pop(pid, None)
            self._modes.pop(pid, None)
            self._remember_register(pid)
            self._forget_call_site(pid)
            if pid in self._audited:
                self._audited.discard(pid)
                if not self._audited and self._sys_enter:
                    self.bpf.detach_tracepoint(SYS_ENTER)

    def close(self):
        self.detach_many(self.uprobes.pids())
        self.tables.close()
        self.bpf.cleanup()


def _identity(path):
    st = os.stat(path)
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


HOLD_NS = 20_000_000     # perf buffers: how long an event may wait for older ones


class EventStream:
    """One event stream of the program (common.c EVENT_STREAM) read by `on_event(_,
    data, size)`: the ring buffer, or with `perf` (no ring buffer: Linux < 5.8, or the
    ROSTRACE_NO_RINGBUF test switch) per-CPU perf buffers of the same total size.

    A perf buffer keeps its own CPU's order only, and one CPU's buffer may be read
    before an older event is submitted on another: in_order() sorts what was read by
    the events' own time and holds back those younger than HOLD_NS (an event is
    submitted microseconds after its time is taken) for the next read."""

    def __init__(self, bpf, name, on_event, *, perf, pages):
        self.bpf, self.perf = bpf, perf
        self._held = []
        if perf:
            per_cpu = 1 << max(3, (pages // max(1, os.cpu_count() or 1)).bit_length() - 1)
            bpf[name].open_perf_buffer(on_event, page_cnt=per_cpu)
        else:
            bpf[name].open_ring_buffer(on_event)

    def read(self):
        """Run on_event for every event submitted so far (on every stream: BCC reads
        them all at once)."""
        if not self.perf:
            self.bpf.ring_buffer_consume()
        elif hasattr(self.bpf, 'perf_buffer_consume'):
            self.bpf.perf_buffer_consume()
        else:                           # BCC < 0.23
            self.bpf.perf_buffer_poll(0)

    def in_order(self, events, time_of, now_ns):
        """`events` (read before `now_ns`, CLOCK_MONOTONIC as the kernel's) and those
        held back, oldest first, without the ones younger than HOLD_NS; as they came
        from the ring buffer, which orders them itself."""
        if not self.perf:
            return events
        pool = sorted(self._held + events, key=time_of)
        cut = bisect.bisect_right([time_of(e) for e in pool], now_ns - HOLD_NS)
        self._held = pool[cut:]
        return pool[:cut]


class SpanEvents:
    """The `span_events` stream of `rostrace capture` (capture.c), read while
    capturing: at most `limit` spans are kept, the rest are counted in `dropped`."""

    def __init__(self, bpf, limit, perf=False):
        self.bpf = bpf
        self.limit = limit
        self.spans = []
        self.dropped = 0
        self._stream = EventStream(bpf, b'span_events', self._on_event, perf=perf, pages=1024)
        bpf[b'capturing'][ctypes.c_int(0)] = ctypes.c_uint(1)

    def _on_event(self, _ctx, data, size):
        if size < ctypes.sizeof(abi.SpanEvent):
            return
        if len(self.spans) >= self.limit:
            self.dropped += 1
            return
        ev = abi.SpanEvent()
        ctypes.memmove(ctypes.byref(ev), data, ctypes.sizeof(abi.SpanEvent))
        self.spans.append(ev)

    def stop(self):
        self.bpf[b'capturing'][ctypes.c_int(0)] = ctypes.c_uint(0)
        self._stream.read()


def _xfer_time(ev):
    """When the kernel emitted a transport event: a sent message's send(), a received
    one's callback end."""
    return ev.t_sent if ev.type == abi.EVENT_SENT else ev.t_done


class TransportEvents:
    """The `xfer_events` stream."""

    def __init__(self, bpf, perf=False):
        self.bpf = bpf
        self._events = []
        self._stream = EventStream(bpf, b'xfer_events', self._on_event, perf=perf, pages=1024)

    def _on_event(self, _ctx, data, size):
        if size >= ctypes.sizeof(abi.XferEvent):
            ev = abi.XferEvent()
            ctypes.memmove(ctypes.byref(ev), data, ctypes.sizeof(abi.XferEvent))
            self._events.append(ev)

    def take(self):
        now = time.monotonic_ns()
        self._stream.read()
        events, self._events = self._events, []
        return self._stream.in_order(events, _xfer_time, now)


HEAD = abi.ActionEvent.data.offset       # an action event's fixed part
_HEAD = struct.Struct('<QQIIII')            # t, object, tgid, side, len, copied


class ActionEvent(NamedTuple):
    t: int
    object: int
    tgid: int
    side: int
    len: int
    data: bytes             # the bytes the kernel copied


class ActionEvents:
    """The `action_events` stream (actions.c): each event holds only the bytes
    copied, so its length varies. At most LIMIT are kept between two take()s."""

    LIMIT = 50000

    def __init__(self, bpf, perf=False):
        self.bpf = bpf
        self._events = []
        self.dropped = 0
        self._stream = EventStream(bpf, b'action_events', self._on_event, perf=perf, pages=256)

    def _on_event(self, _ctx, data, size):
        if size < HEAD:
            return
        if len(self._events) >= self.LIMIT:
            self.dropped += 1
            return
        raw = ctypes.string_at(data, size)
        t, obj, tgid, side, length, copied = _HEAD.unpack_from(raw)
        self._events.append(ActionEvent(t, obj, tgid, side, length,
                                        raw[HEAD:HEAD + min(copied, abi.ACTION_BYTES)]))

    def take(self):
        now = time.monotonic_ns()
        self._stream.read()
        events, self._events = self._events, []
        return self._stream.in_order(events, lambda e: e.t, now)
