"""rostrace's one BPF program (bpf/*.c): compiled once, its uprobes attached per PID.

The program is split by concern, one file each, compiled as one text (BCC rewrites map
accesses only in its main source, so the parts cannot be #included): common.c (which
processes are traced, per-window aggregation, hit counters), sched.c (scheduler and
page-fault accounting per thread), transport.c (what crosses processes), subscriber.c
(the receive path), publisher.c (the publish side), audit.c (real-time audit) and
calibrate.c (probe cost at start-up). bpf/rostrace.h is their contract with Python.
"""
import ctypes
import os
import platform
import resource
import time
from concurrent.futures import ThreadPoolExecutor

from ..errors import ProcessGone, RostraceError, SystemNotReady
from ..model.decode import (HIT_NAMES, LOST_NAMES, decode_links, decode_window,
                            queue_stat_records)
from ..system.procfs import ProcFS
from ..system.symbols import PUBLISH_POINTS, RECEIVE_POINTS, file_offset
from ..system.targets import libc_function
from . import abi, links

BPF_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'bpf')
SOURCES = ('common.c', 'sched.c', 'transport.c', 'subscriber.c', 'publisher.c', 'audit.c',
           'calibrate.c')
SYS_ENTER = b'raw_syscalls:sys_enter'
# Kernels >= 6.11 return from uretprobes through the `uretprobe` syscall: rostrace's own
# probes, not the callback's doing (arch/x86/entry/syscalls/syscall_64.tbl).
URETPROBE_SYSCALL = {'x86_64': 335}.get(platform.machine(), -1)

# probe point -> (entry handler or None, return handler or None)
HANDLERS = {
    'topic_publish': ('on_topic_manager_publish', None),
    'publication_publish': ('on_publication_publish', None),
    'queue_push': ('on_subscription_queue_push', None),
    'queue_call': (None, 'on_subscription_queue_call_return'),
    'deserialize': ('on_message_deserializer_deserialize',
                    'on_message_deserializer_deserialize_return'),
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
                         'on_subscription_queue_call_return', CALL_ENTRY}),
}
# Per-process sets in common.c: which probe points put a process in which.
TGID_SETS = ((b'traced_tgids', RECEIVE_POINTS), (b'publisher_tgids', PUBLISH_POINTS))
# A handler runs for microseconds; a vCPU the host preempts may hold one for longer.
WRITERS_WAIT_S = 0.2
DETACH_THREADS = 64


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
    parts = ['#include <uapi/linux/ptrace.h>\n#include "rostrace.h"\n']
    for name in SOURCES:
        with open(os.path.join(BPF_DIR, name)) as f:
            parts.append(f'#line 1 "{name}"\n{f.read()}')
    return ''.join(parts)


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
    """

    def __init__(self, *, cflags=()):
        bcc = load_bcc()
        _raise_probe_limits()
        self._bcc = bcc
        self._syscall_name = lambda n: bcc.syscall.syscall_name(n).decode()
        try:
            self.bpf = bcc.BPF(text=program_text().encode(),
                               cflags=['-I' + BPF_DIR,
                                       f'-DURETPROBE_SYSCALL={URETPROBE_SYSCALL}', *cflags])
        except Exception as e:  # bcc raises bare Exception on compile errors
            raise SystemNotReady(f'BPF program failed to compile: {e}',
                                 hint='run `make setup` (kernel headers, tracefs) as root')
        self._attached = {}      # pid -> [link fds, or BCC's uprobe event names]
        self._points = {}        # pid -> probe point names attached
        self._call_entry = {}    # pid -> library identity, while its call entry is to go
        self._by_handler = {}    # pid -> {handler name: [link fds / event names]}
        self._modes = {}         # pid -> budget mode other than 'full'
        self._stats_fd = None    # keeps the kernel timing BPF runs (handler_costs)
        self._conn_id = 0        # the last connection id given to the kernel (conn_ids)
        self.kernel_links = {}   # LinkId -> MatchedLink matched in the kernel, last window
        self._learned = {}       # library identity -> queue register (subscriber.c)
        self._generation = 0
        self._audited = set()
        # BCC attaches every TRACEPOINT_PROBE at load; the per-syscall one is only
        # wanted while a critical target is audited.
        self.bpf.detach_tracepoint(SYS_ENTER)
        self.set_calibration(pair_ns=0, inner_ns=0)
        init = abi.QueueStats()
        for stat in init.rec:
            stat.min_ns = 2**64 - 1
        self.bpf[b'qstats_init'][ctypes.c_int(0)] = init
        self._events = TransportEvents(self.bpf)
        self._links = os.environ.get('ROSTRACE_PERF_UPROBES') != '1' and self._links_work()

    def events(self):
        """Transport events (abi.XferEvent) since the previous call, oldest first (the
        ones a full ring buffer refused are counted by lost())."""
        return self._events.take()

    def set_calibration(self, *, pair_ns, inner_ns):
        calib = self.bpf[b'calib']
        calib[ctypes.c_int(0)] = ctypes.c_ulonglong(int(pair_ns))
        calib[ctypes.c_int(1)] = ctypes.c_ulonglong(int(inner_ns))

    # -- attachment -------------------------------------------------------------------
    def _links_work(self):
        """True when this kernel attaches uprobes as links (probes/links.py): tried once
        on a no-op program at this process's own libc getpid."""
        try:
            fn = self.bpf.load_func(b'rostrace_link_check', self._bcc.BPF.KPROBE,
                                    attach_type=links.BPF_TRACE_UPROBE_MULTI)
            libc, address = libc_function(ProcFS(), os.getpid(), 'getpid')
            offset = file_offset(libc, address)
            os.close(links.uprobe_link(fn.fd, libc, offset, os.getpid()))
            return True
        except Exception:
            return False

    def _attach_one(self, library, address, fn_name, pid, done, *, is_return=False):
        if self._links:
            fn = self.bpf.load_func(fn_name.encode(), self._bcc.BPF.KPROBE,
                                    attach_type=links.BPF_TRACE_UPROBE_MULTI)
            new = [links.uprobe_link(fn.fd, library, file_offset(library, address), pid,
                                     is_return=is_return)]
        else:
            attach = self.bpf.attach_uretprobe if is_return else self.bpf.attach_uprobe
            before = set(self.bpf.uprobe_fds)
            attach(name=library.encode(), addr=address, fn_name=fn_name.encode(), pid=pid)
            new = list(set(self.bpf.uprobe_fds) - before)
        done.extend(new)
        self._by_handler.setdefault(pid, {}).setdefault(fn_name, []).extend(new)

    def _drop(self, pid, attached):
        """Detach `attached` (link fds / event names) of `pid` and forget them."""
        self._detach_events(attached)
        gone = set(attached)
        for fn, items in list(self._by_handler.get(pid, {}).items()):
            self._by_handler[pid][fn] = [a for a in items if a not in gone]
        if pid in self._attached:
            self._attached[pid] = [a for a in self._attached[pid] if a not in gone]

    def _attach_pair(self, pid, library, address, entry_fn, return_fn, done):
        if entry_fn:
            self._attach_one(library, address, entry_fn, pid, done)
        if return_fn:
            self._attach_one(library, address, return_fn, pid, done, is_return=True)

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
                entry_fn, return_fn = HANDLERS[name]
                address = target.probe_points[name].address
                self._attach_pair(target.pid, target.library, address, entry_fn, return_fn, done)
                if name == 'queue_call':
                    call_entry = self._call_site(target, address, call_site, done)
        except Exception as e:
            self._drop(target.pid, done)
            if not self._attached.get(target.pid):
                self._forget_call_site(target.pid)
            if not os.path.exists(f'/proc/{target.pid}'):
                raise ProcessGone(target.pid, 'exited while attaching') from None
            raise RostraceError(f'attaching uprobes to pid {target.pid} failed: {e}',
                                hint='check `rostrace doctor`') from None
        self._attached.setdefault(target.pid, []).extend(done)
        have.update(wanted)
        if call_entry:
            self._call_entry[target.pid] = call_entry
        for table, points_of_set in TGID_SETS:
            if have & points_of_set:
                try:
                    flags = self.bpf[table][ctypes.c_uint(target.pid)].value
                except KeyError:
                    flags = 0
                self.bpf[table][ctypes.c_uint(target.pid)] = ctypes.c_ubyte(flags | abi.TGID_TRACED)

    def learned(self):
        """Remove SubscriptionQueue::call's entry probe from every process whose queue
        register the kernel has learned, and remember that register for its library
        build (a process of the same build starts without that probe). Returns the
        pids changed."""
        changed = [pid for pid in self._call_entry if self._remember_register(pid)]
        for pid in changed:
            self._call_entry.pop(pid)
            self._drop(pid, self._by_handler.get(pid, {}).pop(CALL_ENTRY, []))
        return changed

    def _remember_register(self, pid):
        """True when `pid`'s queue register is learned; its library build keeps it."""
        reg = self.queue_register(pid)
        if reg is not None and pid in self._call_entry:
            self._learned[self._call_entry[pid]] = reg
        return reg is not None

    def register_connection(self, subscriber, publisher):
        """Both ends of one TCP connection, (pid, fd) each: from now on the kernel
        matches its messages (transport.c). The subscriber's end is written first, so
        a message is matched by the kernel only once its send was recorded there."""
        self._conn_id += 1
        ids = self.bpf[b'conn_ids']
        for pid, fd in (subscriber, publisher):
            ids[abi.SockKey(tgid=pid, fd=fd)] = ctypes.c_uint(self._conn_id)

    def unregister_connection(self, *ends):
        ids = self.bpf[b'conn_ids']
        for pid, fd in ends:
            try:
                del ids[abi.SockKey(tgid=pid, fd=fd)]
            except KeyError:
                pass

    def set_matchable(self, pid, queue, matchable):
        """Whether the messages of queue `queue` of `pid` are fingerprinted and sent to
        user space as transport events (by default they are)."""
        key = abi.ObjectKey(tgid=pid, object=queue)
        table = self.bpf[b'unmatchable']
        if matchable:
            try:
                del table[key]
            except KeyError:
                pass
        else:
            table[key] = ctypes.c_ubyte(1)

    def set_mode(self, target, mode):
        """Overhead-budget mode of an attached subscriber (MODE_DROPS): the receive
        handlers that mode goes without are detached, those it has are attached, and
        the scheduler split is off in every mode but 'full'."""
        pid = target.pid
        old = MODE_DROPS[self._modes.get(pid, 'full')]
        new = MODE_DROPS[mode]
        handlers = self._by_handler.setdefault(pid, {})
        for fn in new - old:
            self._drop(pid, handlers.pop(fn, []))
        for fn in old - new:
            if fn == CALL_ENTRY and pid not in self._call_entry:
                continue            # learned meanwhile: not needed any more
            point, is_return = HANDLER_POINTS[fn]
            if point in target.probe_points and not handlers.get(fn):
                added = []
                self._attach_one(target.library, target.probe_points[point].address, fn, pid,
                                 added, is_return=is_return)
                self._attached.setdefault(pid, []).extend(added)
        if mode == 'full':
            self._modes.pop(pid, None)
        else:
            self._modes[pid] = mode
        self._set_flag(pid, abi.TGID_NO_SCHED, mode != 'full')

    def mode(self, pid):
        return self._modes.get(pid, 'full')

    def _set_flag(self, pid, flag, on):
        table = self.bpf[b'traced_tgids']
        try:
            flags = table[ctypes.c_uint(pid)].value
        except KeyError:
            return
        table[ctypes.c_uint(pid)] = ctypes.c_ubyte((flags | flag) if on else (flags & ~flag))

    def handler_costs(self):
        """{handler name: mean ns per run} of every loaded program, as the kernel timed
        them since this was first called (it turns the kernel's timing on: one clock
        read each side of every BPF run); {} where the kernel cannot time them."""
        if self._stats_fd is None:
            try:
                self._stats_fd = links.enable_run_time_stats()
            except OSError:
                self._stats_fd = -1
        if self._stats_fd < 0:
            return {}
        out = {}
        for name, fn in self.bpf.funcs.items():
            runs, ns = program_runs(fn.fd)
            if runs:
                out[name.decode()] = ns / runs
        return out

    def set_socket_reads(self, pid, needed):
        """Whether the recvfrom tracepoint records which socket filled which buffer in
        subscriber `pid` (needed while any of its queues may be matched)."""
        self._set_flag(pid, abi.TGID_NO_ORIGIN, not needed)

    def queue_register(self, pid):
        """The learned enum saved_register of `pid`, or None."""
        try:
            reg = self.bpf[b'call_sites'][ctypes.c_uint(pid)].reg
        except KeyError:
            return None
        return None if reg == abi.REG_UNKNOWN else reg

    def _call_site(self, target, address, call_site, done):
        """Where the receive path believes a register for the served queue, and that
        register when this library build already taught it; else the entry probe.
        Returns the library identity when the entry probe is to go once learned."""
        pid, library = target.pid, _identity(target.library)
        self.learned()
        reg = self._learned.get(library, abi.REG_UNKNOWN)
        if call_site:
            self.bpf[b'call_sites'][ctypes.c_uint(pid)] = abi.CallSite(*call_site, reg, 0)
        if call_site and reg != abi.REG_UNKNOWN:
            return None
        self._attach_one(target.library, address, CALL_ENTRY, pid, done)
        return library if call_site else None

    def _forget_call_site(self, pid):
        self._call_entry.pop(pid, None)
        try:
            del self.bpf[b'call_sites'][ctypes.c_uint(pid)]
        except KeyError:
            pass

    def audit(self, pid, libc_path, malloc_address):
        """Real-time audit of an attached process: malloc() and syscalls in callbacks."""
        done = self._attached.setdefault(pid, [])
        self._attach_one(libc_path, malloc_address, 'on_malloc', pid, done)
        self.bpf[b'audited_tgids'][ctypes.c_uint(pid)] = ctypes.c_ubyte(1)
        if not self._audited:
            self.bpf.attach_tracepoint(tp=SYS_ENTER, fn_name=b'tracepoint__raw_syscalls__sys_enter')
        self._audited.add(pid)

    def attach_calibration(self, pid, path, address, *, with_return=True):
        """The calibration target's probe: entry+return, or the entry alone."""
        done = []
        if with_return:
            self._attach_pair(pid, path, address, 'on_calibrate_target',
                              'on_calibrate_target_return', done)
        else:
            self._attach_one(path, address, 'on_calibrate_target', pid, done)
        self._attached[pid] = done

    def _detach_events(self, attached):
        """Remove uprobes: links by closing them, BCC's by event name (works after the
        target and the ELF path through its /proc/PID/root are gone, where BCC's
        detach_uprobe() cannot resolve it).

        Closing a uprobe waits for the kernel's RCU grace periods (~0.1 s here, each).
        Links close in parallel, so their waits overlap (100 targets in 0.55 s); the
        kernel serializes perf-event uprobes whatever we do (~0.65 s per node)."""
        fds = [a for a in attached if isinstance(a, int)]
        if fds:
            with ThreadPoolExecutor(max_workers=min(DETACH_THREADS, len(fds))) as pool:
                list(pool.map(_close, fds))
        for ev_name in [e for e in attached if not isinstance(e, int)]:
            try:
                self.bpf.detach_uprobe_event(ev_name)
            except Exception:
                pass

    def detach(self, pid):
        self.detach_many([pid])

    def detach_many(self, pids):
        """Every probe of these processes, removed together (in parallel)."""
        self._detach_events([e for pid in pids for e in self._attached.pop(pid, [])])
        for pid in pids:
            self._points.pop(pid, None)
            self._by_handler.pop(pid, None)
            self._modes.pop(pid, None)
            self._remember_register(pid)
            self._forget_call_site(pid)
            for name in [table for table, _ in TGID_SETS] + [b'audited_tgids']:
                try:
                    del self.bpf[name][ctypes.c_uint(pid)]
                except KeyError:
                    pass
            if pid in self._audited:
                self._audited.discard(pid)
                if not self._audited:
                    self.bpf.detach_tracepoint(SYS_ENTER)

    def attached_pids(self):
        return sorted(self._attached)

    def close(self):
        self.detach_many(list(self._attached))
        if self._stats_fd is not None and self._stats_fd >= 0:
            _close(self._stats_fd)
        self.bpf.cleanup()

    # -- reading ----------------------------------------------------------------------
    def hits(self):
        """Probe hits so far per handler (summed over CPUs), for cost accounting:
        {'push': n, 'call': n, ...} (enum hit of rostrace.h)."""
        table = self.bpf[b'hits']
        return {name: sum(table.getvalue(ctypes.c_int(i))) for i, name in HIT_NAMES.items()}

    def calibration_span(self):
        span = self.bpf[b'calib_span']
        total, count = span[ctypes.c_int(0)].value, span[ctypes.c_int(1)].value
        span.clear()
        return total, count

    def collect(self):
        """([QueueRow], [PublicationRow]) since the previous collect (and, in
        `kernel_links`, {LinkId: MatchedLink} of the links matched in the kernel). The kernel writes
        the other generation meanwhile; the old one is read once no handler writes it
        any more (record() in common.c), so no sample falls between two windows."""
        old = self._generation
        self._generation = 1 - old
        self.bpf[b'generation'][ctypes.c_int(0)] = ctypes.c_uint(self._generation)
        writers = self.bpf[b'writers']
        deadline = time.monotonic() + WRITERS_WAIT_S
        while writers[ctypes.c_int(old)].value and time.monotonic() < deadline:
            time.sleep(0.0001)
        stats = (drain(self.bpf[f'stats{old}'.encode()]) +
                 queue_stat_records(drain(self.bpf[f'qstats{old}'.encode()])))
        queues, publications = decode_window(stats, drain(self.bpf[f'hist{old}'.encode()]),
                                             syscall_name=self._syscall_name)
        self.kernel_links = decode_links(drain(self.bpf[f'lstats{old}'.encode()]),
                                         drain(self.bpf[f'lhist{old}'.encode()]))
        return queues, publications

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


def _identity(path):
    st = os.stat(path)
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def _close(fd):
    try:
        os.close(fd)
    except OSError:
        pass


def drain(table):
    """Every (key, value) of a BPF hash map, which is left empty."""
    try:
        return list(table.items_lookup_and_delete_batch())
    except Exception:         # kernels or BCC builds without batch operations
        items = list(table.items())
        for k, _ in items:
            try:
                del table[k]
            except KeyError:
                pass
        return items


class TransportEvents:
    """The `xfer_events` ring buffer."""

    def __init__(self, bpf):
        self.bpf = bpf
        self._events = []
        bpf[b'xfer_events'].open_ring_buffer(self._on_event)

    def _on_event(self, _ctx, data, size):
        if size >= ctypes.sizeof(abi.XferEvent):
            ev = abi.XferEvent()
            ctypes.memmove(ctypes.byref(ev), data, ctypes.sizeof(abi.XferEvent))
            self._events.append(ev)

    def take(self):
        self.bpf.ring_buffer_consume()
        events, self._events = self._events, []
        return events
