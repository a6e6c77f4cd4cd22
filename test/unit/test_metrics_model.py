"""Cumulative numbers for Prometheus: windows add up, kernel buckets fold into powers of
two without moving a value below its bucket, the number of topics is bounded."""
from rostrace.model.histogram import Accumulator, bucket_of
from rostrace.model.metrics import BOUNDS_NS, MonitorTotals, Names, power_bucket
from rostrace.model.numbers import (LinkKey, LinkNumbers, PathKey, ServiceKey, ServiceNumbers,
                                    TimerKey, TimerNumbers, TopicKey, TopicNumbers, Window)


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
    totals = MonitorTotals()
    totals.add(window(6, 6, 7), Names(lambda pid: '/n'))
    totals.add(window(6, 40, dropped=2), Names(lambda pid: '/n'))
    topics = totals['topic']
    assert topics.counts['/n', '/t'] == {'received': 7, 'processed': 5, 'dropped': 2}
    h = topics.stages['/n', '/t', 'processing']
    assert (h.count, h.sum_ns) == (5, 65_000_000)
    buckets = h.cumulative()
    assert buckets[-1] == ('+Inf', 5)
    counts = [n for _, n in buckets]
    assert counts == sorted(counts)                     # cumulative
    le_8ms = next(n for le, n in buckets if le != '+Inf' and le >= 0.0083)
    assert le_8ms == 4                                   # 6, 6, 7, 6 ms; not the 40


def test_topics_are_bounded_and_untraced_processes_left_out():
    totals = MonitorTotals(max_topics=2)
    for i in range(4):
        totals.add(window(1, topic=f'/t{i}'), Names(lambda pid: '/n'))
    totals.add(window(1, topic='/t0'), Names(lambda pid: '/n'))
    totals.add(window(1, pid=9), Names(lambda pid: None))
    topics = totals['topic']
    assert set(topics.counts) == {('/n', '/t0'), ('/n', '/t1')}
    assert topics.counts['/n', '/t0']['processed'] == 2
    assert topics.dropped == 2


def test_links_timers_services_and_paths_get_their_own_series():
    w = window(1, 2)
    numbers = w.topics[TopicKey(1, '/t')]
    acc = Accumulator()
    acc.add_value(5_000_000)
    numbers.links[LinkKey(0, False, '/far', 'hostA')] = LinkNumbers(
        messages=1, stages={'transport': acc})
    numbers.links[LinkKey(4, False)] = LinkNumbers(messages=2, dropped=1)
    w.timers[TimerKey(1, 0x10)] = TimerNumbers(firings=3, missed=1, stages={'duration': acc})
    w.services[ServiceKey(1, 0x20, 'server')] = ServiceNumbers(count=2, failed=1)
    w.paths[PathKey(4, '/in', 1, '/t')] = LinkNumbers(messages=5, stages={'end_to_end': acc})
    totals = MonitorTotals()
    totals.add(w, Names(node=lambda pid: '/n' if pid == 1 else None,
                        process=lambda pid: f'/p{pid}', timer=lambda k: 'tick',
                        service=lambda k: '/srv'))
    links = totals['link']
    assert links.counts['/n', '/t', '/far', 'hostA'] == {'messages': 1, 'dropped': 0}
    assert links.counts['/n', '/t', '/p4', ''] == {'messages': 2, 'dropped': 1}
    assert links.stages['/n', '/t', '/far', 'hostA', 'transport'].count == 1
    assert totals['timer'].counts['/n', 'tick'] == {'firings': 3, 'missed': 1}
    assert totals['timer'].stages['/n', 'tick', 'duration'].sum_ns == 5_000_000
    assert totals['service'].counts['/n', '/srv', 'server'] == {'count': 2, 'failed': 1}
    assert totals['path'].counts['/n', '/t', '/in'] == {'messages': 5}
