"""Give back the memory BCC's compiler used, once the BPF program is loaded, and keep
the monitor's heap from holding what its periods freed (one_malloc_arena, trim_heap),
and its cycle collector from walking it after every few hundred allocations
(CycleCollector).

Compiling the program maps LLVM and clang (~80 MiB of their code is touched) and leaves
~20 MiB of freed heap that glibc keeps. Neither is needed again until the next compile,
yet both count in the monitor's RSS for as long as it runs (a robot's whole uptime).
glibc's malloc_trim returns the free heap; MADV_PAGEOUT (Linux 5.4+) asks the kernel to
reclaim the compiler's code pages (read-only, executable, backed by their files: they
come back from the page cache if a later compile needs them). Only code mappings are
advised: a read-only data mapping may hold pages written before it became read-only
(relocations), which MADV_DONTNEED would throw away; MADV_PAGEOUT never drops those."""
import ctypes
import ctypes.util
import gc
import time

MADV_PAGEOUT = 21
CYCLES_PERIOD_S = 30.0      # CycleCollector: a full collection this often ...
OLDEST_NEVER = 10 ** 9      # ... and never by counts (young collections before one)
COMPILER_LIBRARIES = ('libLLVM', 'libclang')


def compiler_code_mappings(maps_text):
    """(start, length) of the compiler's executable, unwritable file mappings in
    /proc/PID/maps text."""
    out = []
    for line in maps_text.splitlines():
        parts = line.split(None, 5)
        if len(parts) < 6 or parts[1] != 'r-xp':
            continue
        name = parts[5].rsplit('/', 1)[-1]
        if not name.startswith(COMPILER_LIBRARIES):
            continue
        start, end = (int(x, 16) for x in parts[0].split('-'))
        out.append((start, end - start))
    return out


def _libc():
    try:
        return ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6', use_errno=True)
    except OSError:
        return None


_LIBC = _libc()


M_ARENA_MAX = -8            # mallopt(3)


def one_malloc_arena():
    """Every thread started from now on allocates from glibc's main heap: by default
    each thread that allocates gets an arena of its own, which keeps its freed memory
    (measured at 100 traced nodes: 202 -> 172 MiB RSS with this and trim_heap()). The
    monitor's threads are Python threads, which allocate holding the GIL anyway."""
    if _LIBC is not None and hasattr(_LIBC, 'mallopt'):
        _LIBC.mallopt(M_ARENA_MAX, 1)


def trim_heap():
    """Give the free pages of glibc's heap back (malloc_trim): a period's work leaves
    freed tens of thousands of rows that Python and glibc keep otherwise."""
    if _LIBC is not None and hasattr(_LIBC, 'malloc_trim'):
        _LIBC.malloc_trim(0)


def release_compiler_memory():
    """Bytes of mappings advised (0 where the kernel or libc cannot)."""
    libc = _LIBC
    if libc is None:
        return 0
    trim_heap()
    try:
        with open('/proc/self/maps') as f:
            mappings = compiler_code_mappings(f.read())
    except OSError:
        return 0
    libc.madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    advised = 0
    for start, length in mappings:
        if libc.madvise(start, length, MADV_PAGEOUT) == 0:     # EINVAL before Linux 5.4
            advised += length
    return advised


class CycleCollector:
    """Python's oldest generation collected every `period_s` (tick()) or when asked
    (collect()) instead of by allocation counts, from start() to stop(). A period's
    rows are tens of thousands of objects that live until the next period; counted as
    survivors, they set off full collections that walk every object of the process: at
    a thousand traced topics, two a period and ~180 ms of a period's ~0.6 s of work
    (measured with gc.callbacks). The young generations are collected as before: the
    cycles attaching makes (ELF parsing, BCC) die young; what a period builds holds no
    cycles (reference counts free it)."""

    def __init__(self, period_s=CYCLES_PERIOD_S, clock=time.monotonic):
        self.period_s = period_s
        self.clock = clock
        self._next = None
        self._thresholds = None

    def start(self):
        """From now on; what exists already (modules, BCC, rospy: kept for the whole
        run) is frozen, never walked again."""
        self._thresholds = gc.get_threshold()
        young, middle = self._thresholds[:2]
        gc.freeze()
        gc.set_threshold(young, middle, OLDEST_NEVER)
        self._next = self.clock() + self.period_s

    def tick(self):
        """A full collection when `period_s` has passed since the last one."""
        if self.clock() >= self._next:
            self.collect()

    def collect(self):
        gc.collect()
        self._next = self.clock() + self.period_s

    def stop(self):
        gc.unfreeze()
        if self._thresholds is not None:
            gc.set_threshold(*self._thresholds)
