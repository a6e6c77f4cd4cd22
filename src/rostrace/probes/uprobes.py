"""The uprobes of one BPF program, per process and per handler.

As links where the kernel has them (links.py: one fd each, closed in parallel), else
BCC's perf-event uprobes (removed by event name). Which handler runs at which probe
point is program.py's business; this module only puts them in and takes them out.
"""
import os
from concurrent.futures import ThreadPoolExecutor

from ..system.procfs import ProcFS
from ..system.symbols import file_offset
from ..system.targets import libc_function
from . import links

DETACH_THREADS = 64


class Uprobes:
    """{pid: {handler: [link fds / BCC event names]}} of one compiled BCC program."""

    def __init__(self, bpf, bcc):
        self.bpf = bpf
        self._bcc = bcc
        self._by_handler = {}
        self.links = os.environ.get('ROSTRACE_PERF_UPROBES') != '1' and self._links_work()

    def _links_work(self):
        """True when this kernel attaches uprobes as links: tried once on a no-op
        program at this process's own libc getpid."""
        try:
            fn = self._load(b'rostrace_link_check')
            libc, address = libc_function(ProcFS(), os.getpid(), 'getpid')
            os.close(links.uprobe_link(fn.fd, libc, file_offset(libc, address), os.getpid()))
            return True
        except Exception:
            return False

    def _load(self, fn_name):
        return self.bpf.load_func(fn_name, self._bcc.BPF.KPROBE,
                                  attach_type=links.BPF_TRACE_UPROBE_MULTI)

    def add(self, pid, library, address, fn_name, *, is_return=False):
        """Handler `fn_name` at `address` of `library`, in process `pid` only."""
        if self.links:
            fn = self._load(fn_name.encode())
            new = [links.uprobe_link(fn.fd, library, file_offset(library, address), pid,
                                     is_return=is_return)]
        else:
            attach = self.bpf.attach_uretprobe if is_return else self.bpf.attach_uprobe
            before = set(self.bpf.uprobe_fds)
            attach(name=library.encode(), addr=address, fn_name=fn_name.encode(), pid=pid)
            new = list(set(self.bpf.uprobe_fds) - before)
        self._by_handler.setdefault(pid, {}).setdefault(fn_name, []).extend(new)
        return new

    def of(self, pid, fn_name):
        """What carries handler `fn_name` in `pid` ([] when nothing)."""
        return list(self._by_handler.get(pid, {}).get(fn_name, []))

    def remove(self, pid, items):
        """Detach `items` (from add()) of `pid`."""
        gone = set(items)
        for fn, have in self._by_handler.get(pid, {}).items():
            self._by_handler[pid][fn] = [a for a in have if a not in gone]
        _detach(self.bpf, items)

    def remove_handler(self, pid, fn_name):
        self.remove(pid, self._by_handler.get(pid, {}).pop(fn_name, []))

    def remove_all(self, pids):
        """Every uprobe of these processes, removed together (in parallel)."""
        _detach(self.bpf, [a for pid in pids
                           for items in self._by_handler.pop(pid, {}).values() for a in items])

    def pids(self):
        return sorted(pid for pid, handlers in self._by_handler.items()
                      if any(handlers.values()))


def _detach(bpf, attached):
    """Remove uprobes: links by closing them, BCC's by event name (works after the
    target and the ELF path through its /proc/PID/root are gone, where BCC's
    detach_uprobe() cannot resolve it).

    Closing a uprobe waits for the kernel's RCU grace periods (~0.1 s here, each).
    Links close in parallel, so their waits overlap (100 targets in 0.55 s); the
    kernel serializes perf-event uprobes whatever we do (~0.65 s per node)."""
    fds = [a for a in attached if isinstance(a, int)]
    if fds:
        with ThreadPoolExecutor(max_workers=min(DETACH_THREADS, len(fds))) as pool:
            list(pool.map(close_fd, fds))
    for ev_name in [e for e in attached if not isinstance(e, int)]:
        try:
            bpf.detach_uprobe_event(ev_name)
        except Exception:
            pass


def close_fd(fd):
    try:
        os.close(fd)
    except OSError:
        pass
