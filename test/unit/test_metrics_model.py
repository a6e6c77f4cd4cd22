"""Cumulative numbers for Prometheus: windows add up, kernel buckets fold into powers of
two without moving a value below its bucket, the number of topics is bounded."""
from rostrace.model.histogram import Accumulator, bucket_of
from rostrace.model.metrics import BOUNDS_NS, TopicTotals, power_bucket
from rostrace.model.numbers import TopicKey, TopicNumbers, Window


def window(*values_ms, topic='/t', pid=1, dropped=0):
    n = TopicNumbers(received=len(values_ms) + dropped, processed=len(values_ms),
                     dropped=dropped)
    acc = Accumulator()
    for v in values_ms:
        acc.add_value(int(v * 1e6))
    n.stages['processing'] = acc
    w = Window(window_s=1.0)
    w.topics[TopicKey(pid, topic)] = n
    return w


def test_kernel_buckets_fold_into_the_power_of_two_that_holds_them():
    for ns in (1, 1000, 1024, 1025, 6_000_000, 8_388_608, 8_388_609, 10**11):
        i = power_bucket(bucket_of(ns))
        assert i == len(BOUNDS_NS) or ns <= BOUNDS_NS[i]
        assert i == 0 or ns > BOUNDS_NS[i - 1] // 2      # at most one power of two above


def test_windows_add_up_and_are_cumulative():
    totals = TopicTotals()
    totals.add(window(6, 6, 7), lambda pid: '/n')
    totals.add(window(6, 40, dropped=2), lambda pid: '/n')
    assert totals.counts['/n', '/t'] == {'received': 7, 'processed': 5, 'dropped': 2}
    h = totals.stages['/n', '/t', 'processing']
    assert (h.count, h.sum_ns) == (5, 65_000_000)
    buckets = h.cumulative()
    assert buckets[-1] == ('+Inf', 5)
    counts = [n for _, n in buckets]
    assert counts == sorted(counts)                     # cumulative
    le_8ms = next(n for le, n in buckets if le != '+Inf' and le >= 0.0083)
    assert le_8ms == 4                                   # 6, 6, 7, 6 ms; not the 40


def test_topics_are_bounded_and_untraced_processes_left_out():
    totals = TopicTotals(max_topics=2)
    for i in range(4):
        totals.add(window(1, topic=f'/t{i}'), lambda pid: '/n')
    totals.add(window(1, topic='/t0'), lambda pid: '/n')
    totals.add(window(1, pid=9), lambda pid: None)
    assert set(totals.counts) == {('/n', '/t0'), ('/n', '/t1')}
    assert totals.counts['/n', '/t0']['processed'] == 2
    assert totals.dropped_topics == 2
