"""Which mappings the monitor advises out after compiling, and when it collects
cycles (system/memory.py)."""
import gc

from rostrace.system.memory import CycleCollector, compiler_code_mappings

MAPS = '''\
7f0000000000-7f0000100000 r--p 00000000 fe:01 1 /usr/lib/x86_64-linux-gnu/libLLVM-14.so.1
7f0000100000-7f0003000000 r-xp 00100000 fe:01 1 /usr/lib/x86_64-linux-gnu/libLLVM-14.so.1
7f0003000000-7f0003100000 r--p 03000000 fe:01 1 /usr/lib/x86_64-linux-gnu/libLLVM-14.so.1
7f0003100000-7f0003110000 rw-p 03100000 fe:01 1 /usr/lib/x86_64-linux-gnu/libLLVM-14.so.1
7f0004000000-7f0005000000 r-xp 00000000 fe:01 2 /usr/lib/llvm-14/lib/libclang-cpp.so.14
7f0006000000-7f0006100000 r-xp 00000000 fe:01 3 /usr/lib/x86_64-linux-gnu/libbcc.so.0.26.0
7f0007000000-7f0007100000 r-xp 00000000 00:00 0
7f0008000000-7f0008100000 r-xp 00000000 fe:01 4 /opt/my libLLVM dir/libfoo.so
'''


def test_only_the_compilers_code_is_advised():
    assert compiler_code_mappings(MAPS) == [(0x7f0000100000, 0x2f00000),
                                            (0x7f0004000000, 0x1000000)]


def test_drains_share_buffers_grown_to_the_largest_map():
    """Every window map is drained into one pair of buffers (probes/drain.py): a map
    gets the buffer a larger one grew, a larger map grows it, nothing per map."""
    from rostrace.probes.drain import Buffers
    buffers = Buffers()
    big = buffers.get('keys', 4096)
    assert buffers.get('keys', 1024) is big and len(big) == 4096
    bigger = buffers.get('keys', 8192)
    assert bigger is not big and len(bigger) == 8192
    assert buffers.get('keys', 4096) is bigger
    assert buffers.get('values', 16) is not bigger


def test_cycles_are_collected_by_the_clock_not_by_allocations():
    now = [100.0]
    runs = []

    def seen(phase, info):
        if phase == 'stop' and info['generation'] == 2:
            runs.append(now[0])
    before = gc.get_threshold()
    cycles = CycleCollector(period_s=30.0, clock=lambda: now[0])
    gc.callbacks.append(seen)
    try:
        cycles.start()
        assert gc.get_threshold()[:2] == before[:2]         # young ones as before
        for step in range(70):          # 70 s of ticks a second, allocating
            now[0] = 100.0 + step
            garbage = [[] for _ in range(5000)]
            for a, b in zip(garbage, garbage[1:]):
                a.append(b)
                b.append(a)
            del garbage
            cycles.tick()
        assert runs == [130.0, 160.0]
        cycles.collect()
        assert runs == [130.0, 160.0, 169.0]
        cycles.stop()
        assert gc.get_threshold() == before
    finally:
        gc.callbacks.remove(seen)
        gc.set_threshold(*before)
        gc.unfreeze()
