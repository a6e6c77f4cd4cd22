"""Kernel map entries -> typed rows -> merged windows -> TopicBreakdown; missing probe
points make stages unavailable."""
import ctypes

from rostrace.model.breakdown import ALL_STAGES, STAGES, build_breakdown, stage_availability
from rostrace.model.decode import decode_window
from rostrace.model.histogram import bucket_of
from rostrace.model.numbers import TopicNumbers
from rostrace.probes import abi, drain

PID, QUEUE, PUBLICATION = 42, 0x5000, 0x6000


def kernel(record, *values, obj=QUEUE):
    """The stats entry and histogram entries the kernel would hold for `values`."""
    stats = [(abi.StatKey(tgid=PID, record=record, object=obj),
              abi.StatVal(count=len(values), sum_ns=sum(values), min_ns=min(values),
                          max_ns=max(values)))]
    groups = {}
    for v in values:
        if v:                                   # zeros have no entry (common.c hist_add)
            b = bucket_of(v)
            groups.setdefault(b // abi.HIST_GROUP, [0] * abi.HIST_GROUP)[
                b % abi.HIST_GROUP] += 1
    return stats, [(abi.HistKey(tgid=PID, record=record, object=obj, group=g),
                    abi.HistGroup((ctypes.c_uint32 * abi.HIST_GROUP)(*n)))
                   for g, n in groups.items()]


def histograms(entries):
    """Histogram entries [(HistKey, HistGroup)] as drain.py reads the kernel's bytes."""
    return drain.histograms(drain.Items(entries, abi.HistKey, abi.HistGroup))


def window(*entries):
    """One QueueRow's TopicNumbers from kernel entries (histograms only for stages)."""
    stats = [s for e in entries for s in e[0]]
    hists = histograms([h for e in entries for h in e[1]])
    queues, publications = decode_window(stats, hists, syscall_name=lambda n: f'sys{n}')
    assert not publications
    assert [(q.pid, q.queue) for q in queues] == [(PID, QUEUE)]
    return queues[0].numbers


def count(record, n):
    return ([(abi.StatKey(tgid=PID, record=record, object=QUEUE),
              abi.StatVal(count=n, sum_ns=n, min_ns=1, max_ns=1))], [])


def test_breakdown_from_two_collects():
    # window 1: queuing 1 ms, 2 ms, processing 5 ms each; window 2: queuing 3 ms, 1 drop
    first = window(count(abi.COUNT_RECEIVED, 2), count(abi.COUNT_PROCESSED, 2),
                   kernel(abi.STAGE_QUEUING, 1_000_000, 2_000_000),
                   kernel(abi.STAGE_PROCESSING, 5_000_000, 5_000_000))
    second = window(count(abi.COUNT_RECEIVED, 1), count(abi.COUNT_PROCESSED, 1),
                    count(abi.COUNT_DROPPED, 1), kernel(abi.STAGE_QUEUING, 3_000_000),
                    kernel(abi.STAGE_PROCESSING, 5_000_000))
    numbers = TopicNumbers().merge(first).merge(second)
    b = build_breakdown(node='/n', pid=1, host='h', topic='/t', window_s=1.0,
                        numbers=numbers, missing={})
    assert (b.received, b.processed, b.dropped) == (3, 3, 1)
    assert b.stages['queuing'].mean == 0.002
    assert b.stages['queuing'].max == 0.003
    assert sum(numbers.stages['queuing'].buckets.values()) == 3
    assert b.dominant_stage() == 'processing'
    assert set(b.as_dict()['stages']) == set(ALL_STAGES) > set(STAGES)
    assert first.received == 2, 'merging must not change what was merged in'


def test_missing_deserialize_disables_dependent_stages():
    missing = {'deserialize': 'ros::MessageDeserializer::deserialize not found'}
    disabled = stage_availability(missing)
    assert set(disabled) == set(ALL_STAGES) - {'stamp_age'}    # the splits too; stamp
    # ages are read at push
    b = build_breakdown(node='/n', pid=1, host='h', topic='/t', window_s=1.0,
                        numbers=TopicNumbers(), missing=missing)
    assert not b.stages['processing'].available
    assert 'not found' in b.stages['processing'].reason
    assert b.as_dict()['stages']['processing']['available'] is False


def test_quiet_topic_is_available_with_zero_counts():
    b = build_breakdown(node='/n', pid=1, host='h', topic='/t', window_s=1.0,
                        numbers=TopicNumbers(), missing={})
    assert all(s.available and s.count == 0 for n, s in b.stages.items()
               if n not in ('stamp_age', 'processing_tf_wait'))
    assert not b.stages['processing_tf_wait'].available     # no tf2 in that process
    with_tf = build_breakdown(node='/n', pid=1, host='h', topic='/t', window_s=1.0,
                              numbers=TopicNumbers(), missing={}, tf=True)
    assert with_tf.stages['processing_tf_wait'].available
    assert with_tf.stages['processing_tf_wait'].count == 0
    assert not b.stages['stamp_age'].available and 'header' in b.stages['stamp_age'].reason
    assert b.dominant_stage() is None


def sums(record, callbacks, events):
    return ([(abi.StatKey(tgid=PID, record=record, object=QUEUE),
              abi.StatVal(count=callbacks, sum_ns=events, min_ns=0, max_ns=events))], [])


def test_scheduler_splits_per_callback_counts_and_audit():
    # 2 callbacks: on CPU 3 ms + 1 ms, runqueue 1 ms + 0, blocked 0 + 4 ms;
    # 1 + 3 voluntary switches, 6 page faults in all; 2 write() calls, 5 mallocs
    numbers = window(count(abi.COUNT_PROCESSED, 2),
                     kernel(abi.STAGE_PROCESSING_ONCPU, 3_000_000, 1_000_000),
                     kernel(abi.STAGE_PROCESSING_RUNQUEUE, 1_000_000, 0),
                     kernel(abi.STAGE_PROCESSING_BLOCKED, 1, 4_000_000),
                     sums(abi.SUM_VOLUNTARY_SWITCHES, 2, 4), sums(abi.SUM_PAGE_FAULTS, 2, 6),
                     sums(abi.SUM_ALLOCATIONS, 2, 5), count(abi.SYSCALL_BASE + 1, 2))
    b = build_breakdown(node='/n', pid=1, host='h', topic='/t', window_s=1.0,
                        numbers=numbers, missing={}, audited=True)
    assert b.per_callback == {'voluntary_switches': 2.0, 'involuntary_switches': 0.0,
                              'page_faults': 3.0}
    assert abs(b.share('processing_blocked') - 4 / 9) < 1e-6
    assert b.audit == {'allocations': 5, 'allocations_per_callback': 2.5,
                       'syscalls': {'sys1': 2}}
    assert 'audit' in b.as_dict() and 'per_callback' in b.as_dict()


def test_publication_rows_are_told_apart_by_their_record_enum():
    stats, hists = kernel(abi.STAGE_SERIALIZATION, 20_000, 40_000, obj=PUBLICATION)
    stats += [(abi.StatKey(tgid=PID, record=abi.COUNT_PUBLISHED, object=PUBLICATION),
               abi.StatVal(count=2, sum_ns=2, min_ns=1, max_ns=1))]
    queues, publications = decode_window(stats, histograms(hists))
    assert not queues
    (row,) = publications
    assert (row.pid, row.publication, row.numbers.published) == (PID, PUBLICATION, 2)
    assert row.numbers.serialization.count == 2
    assert row.numbers.serialization.stats().mean == 30e-6
    assert sum(row.numbers.serialization.buckets.values()) == 2


def test_one_value_per_queue_unfolds_into_its_written_records():
    """struct queue_stats (every record of a queue in one kernel value) -> the records
    written in the window; drops a push guessed and a later push retracted cancel."""
    value = abi.QueueStats()
    for stat in value.rec:
        stat.min_ns = 2**64 - 1                         # as user space initializes it
    value.rec[abi.COUNT_RECEIVED] = abi.StatVal(count=5, sum_ns=5, min_ns=1, max_ns=1)
    value.rec[abi.COUNT_DROPPED] = abi.StatVal(count=2, sum_ns=2, min_ns=1, max_ns=1)
    value.rec[abi.COUNT_DROPS_RETRACTED] = abi.StatVal(count=1, sum_ns=1, min_ns=1, max_ns=1)
    value.rec[abi.STAGE_QUEUING] = abi.StatVal(count=1, sum_ns=3000, min_ns=3000,
                                               max_ns=3000)
    (row,), _ = decode_window([], {}, queue_stats=[(abi.ObjectKey(tgid=PID, object=QUEUE),
                                                    value)])
    numbers = row.numbers
    assert (row.pid, row.queue) == (PID, QUEUE)
    assert (numbers.received, numbers.dropped) == (5, 1)
    stage = numbers.stages['queuing']
    assert (stage.count, stage.sum_ns, stage.min_ns, stage.max_ns) == (1, 3000, 3000, 3000)
    assert set(numbers.stages) == {'queuing'}           # unwritten records are not rows


def test_a_stage_histogram_is_its_own_entry_and_the_hash_entries_together():
    """A queue stage's samples in the group its window value holds (struct hot_hist) and
    those outside it (hist0/1 entries) make one histogram."""
    value = abi.QueueStats()
    for stat in value.rec:
        stat.min_ns = 2**64 - 1
    value.rec[abi.STAGE_PROCESSING] = abi.StatVal(count=4, sum_ns=4 * 5000, min_ns=4000,
                                                  max_ns=70000)
    hot = value.hot[abi.STAGE_PROCESSING]
    hot.group1 = 5 + 1                                  # bucket_of(4000..5000): group 5
    hot.n[3], hot.n[4] = 2, 1
    value.hot[abi.STAGE_QUEUING].n[0] = 7               # no group: never read
    hist = abi.HistKey(tgid=PID, record=abi.STAGE_PROCESSING, object=QUEUE, group=9)
    group = abi.HistGroup()
    group.n[0] = 1
    (row,), _ = decode_window([], histograms([(hist, group)]),
                              queue_stats=[(abi.ObjectKey(tgid=PID, object=QUEUE), value)])
    buckets = row.numbers.stages['processing'].buckets
    assert buckets == {5 * abi.HIST_GROUP + 3: 2, 5 * abi.HIST_GROUP + 4: 1,
                       9 * abi.HIST_GROUP: 1}
    assert set(row.numbers.stages) == {'processing'}


def test_zero_durations_have_no_kernel_bucket_and_count_as_bucket_zero():
    """common.c keeps no histogram entry for 0 ns (most callbacks never wait in the
    runqueue): the samples the buckets miss are zeros when the minimum is 0."""
    stats, hists = kernel(abi.STAGE_PROCESSING_RUNQUEUE, 0, 0, 0, 5000)
    assert sum(sum(n.n) for _, n in hists) == 1               # the zeros have no entry
    numbers = window((stats, hists))
    acc = numbers.stages['processing_runqueue']
    assert acc.buckets[0] == 3 and acc.stats().p50 < 1e-9


def test_missing_tracepoints_leave_their_numbers_unavailable_not_zero():
    from rostrace.model.breakdown import SPLIT_STAGES
    from rostrace.views.diagnostics import topic_status
    from rostrace.views.render import root_cause_lines
    numbers = window(count(abi.COUNT_PROCESSED, 2),
                     kernel(abi.STAGE_PROCESSING, 3_000_000, 1_000_000),
                     kernel(abi.STAGE_PROCESSING_ONCPU, 3_000_000, 1_000_000),
                     sums(abi.SUM_VOLUNTARY_SWITCHES, 2, 4), sums(abi.SUM_PAGE_FAULTS, 2, 6),
                     sums(abi.SUM_ALLOCATIONS, 2, 5))
    gone = {'tracepoint:sched': 'the kernel has no sched:sched_switch tracepoint',
            'tracepoint:sys_enter': 'the kernel has no raw_syscalls:sys_enter tracepoint'}
    b = build_breakdown(node='/n', pid=1, host='h', topic='/t', window_s=1.0,
                        numbers=numbers, missing=gone, audited=True)
    assert b.stages['processing'].count == 2
    assert all(not b.stages[s].available and 'sched:sched_switch' in b.stages[s].reason
               for s in SPLIT_STAGES)
    assert b.per_callback == {'page_faults': 3.0}
    assert b.audit['syscalls_unavailable'] == gone['tracepoint:sys_enter']
    values = dict(topic_status(b, {}).values)
    assert any('n/a voluntary' in line for line in root_cause_lines(b))
    assert values['voluntary_switches per callback'] == 'not measured'
    assert values['syscalls in callbacks'].startswith('not measured: ')
