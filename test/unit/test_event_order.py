"""Perf buffers keep one CPU's order only: EventStream.in_order (probes/program.py)
sorts by the events' own time and holds back the youngest for the next read."""
from rostrace.probes.program import HOLD_NS, EventStream


def stream(perf):
    s = EventStream.__new__(EventStream)        # no BPF: only the ordering is tested
    s.perf, s._held = perf, []
    return s


def test_events_come_out_oldest_first_across_reads_and_young_ones_wait():
    s = stream(perf=True)
    now = 10 * HOLD_NS
    cpu0, cpu1 = [now - 5 * HOLD_NS, now - 2 * HOLD_NS], [now - 4 * HOLD_NS, now - HOLD_NS // 2]
    first = s.in_order(cpu0 + cpu1, lambda t: t, now)
    assert first == sorted(cpu0 + cpu1[:1])            # the youngest is held back
    # An older event of another CPU submitted after the first read comes before it.
    late = now - HOLD_NS
    second = s.in_order([late], lambda t: t, now + HOLD_NS)
    assert second == [late, cpu1[1]]
    assert s.in_order([], lambda t: t, now + 10 * HOLD_NS) == []


def test_the_ring_buffer_order_is_kept_as_it_came():
    s = stream(perf=False)
    assert s.in_order([3, 1, 2], lambda t: t, 0) == [3, 1, 2]
