"""Kernel numbers -> TopicBreakdown; missing probe points make stages unavailable."""
from rostrace.breakdown import (ALL_STAGES, STAGES, build_breakdown, merge_numbers,
                                stage_availability)
from rostrace.histogram import bucket_of


def kernel_stage(*values):
    buckets = {}
    for v in values:
        buckets[bucket_of(v)] = buckets.get(bucket_of(v), 0) + 1
    return [len(values), sum(values), min(values), max(values), buckets]


def test_breakdown_from_two_collects():
    numbers = {}
    # window of 3 messages: queuing 1 ms, 2 ms, 3 ms; processing 5 ms each
    merge_numbers(numbers, {'received': 2, 'processed': 2,
                            'queuing': kernel_stage(1_000_000, 2_000_000),
                            'processing': kernel_stage(5_000_000, 5_000_000)})
    merge_numbers(numbers, {'received': 1, 'processed': 1, 'dropped': 1,
                            'queuing': kernel_stage(3_000_000),
                            'processing': kernel_stage(5_000_000)})
    b = build_breakdown(node='/n', pid=1, host='h', topic='/t', window_s=1.0,
                        numbers=numbers, missing={})
    assert (b.received, b.processed, b.dropped) == (3, 3, 1)
    assert b.stages['queuing'].mean == 0.002
    assert b.stages['queuing'].max == 0.003
    assert b.dominant_stage() == 'processing'
    assert set(b.as_dict()['stages']) == set(ALL_STAGES) > set(STAGES)


def test_missing_deserialize_disables_dependent_stages():
    missing = {'deserialize': 'ros::MessageDeserializer::deserialize not found'}
    disabled = stage_availability(missing)
    assert set(disabled) == set(ALL_STAGES)        # the scheduler splits too
    b = build_breakdown(node='/n', pid=1, host='h', topic='/t', window_s=1.0,
                        numbers={}, missing=missing)
    assert not b.stages['processing'].available
    assert 'not found' in b.stages['processing'].reason
    assert b.as_dict()['stages']['processing']['available'] is False


def test_quiet_topic_is_available_with_zero_counts():
    b = build_breakdown(node='/n', pid=1, host='h', topic='/t', window_s=1.0,
                        numbers={}, missing={})
    assert all(s.available and s.count == 0 for s in b.stages.values())
    assert b.dominant_stage() is None


def test_scheduler_splits_and_per_callback_counts():
    numbers = {}
    # 2 callbacks: on CPU 3 ms + 1 ms, runqueue 1 ms + 0, blocked 0 + 4 ms;
    # 1 + 3 voluntary switches, 6 page faults in all
    merge_numbers(numbers, {'processed': 2,
                            'processing_oncpu': kernel_stage(3_000_000, 1_000_000),
                            'processing_runqueue': kernel_stage(1_000_000, 0),
                            'processing_blocked': kernel_stage(1, 4_000_000),
                            'sums': {'voluntary_switches': [2, 4], 'page_faults': [2, 6]}})
    b = build_breakdown(node='/n', pid=1, host='h', topic='/t', window_s=1.0,
                        numbers=numbers, missing={}, audited=True)
    assert b.per_callback == {'voluntary_switches': 2.0, 'involuntary_switches': 0.0,
                              'page_faults': 3.0}
    assert abs(b.share('processing_blocked') - 4 / 9) < 1e-6
    assert b.audit == {'allocations': 0, 'allocations_per_callback': 0.0, 'syscalls': {}}
    assert 'audit' in b.as_dict() and 'per_callback' in b.as_dict()
