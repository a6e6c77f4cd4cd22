"""tf2 lookups as numbers, breakdowns, statuses and text: decoded kernel records,
failures by kind, thresholds from the config, the topic status naming the TF wait."""
from rostrace.model.breakdown import build_breakdown, build_tf
from rostrace.model.config import ConfigError, parse_config
from rostrace.model.decode import decode_tf
from rostrace.model.histogram import Accumulator
from rostrace.model.numbers import TfKey, TfNumbers, TopicNumbers, tf_failure_kind
from rostrace.probes import abi
from rostrace.views import diagnostics as diag
from rostrace.views.render import tf_lines, topic_block
from rostrace.views.statuses import MonitorState, monitor_statuses

import pytest

MS = 1_000_000


def numbers(lookups=10, failed_lookup=3, wait_ms=20):
    return TfNumbers(wait_timeouts=failed_lookup, failures={'lookup': failed_lookup},
                     stages={'lookup': Accumulator(lookups, lookups * (wait_ms + 1) * MS,
                                                   wait_ms * MS, (wait_ms + 2) * MS),
                             'wait': Accumulator(lookups, lookups * wait_ms * MS,
                                                 wait_ms * MS, wait_ms * MS)})


def test_decode_tf_records_by_pair():
    def stat(record, count, total=0):
        return (abi.StatKey(tgid=7, record=record, object=99),
                abi.StatVal(count=count, sum_ns=total, min_ns=1, max_ns=total))
    rows = [stat(abi.TF_LOOKUP, 4, 40), stat(abi.TF_WAIT, 3, 30), stat(abi.TF_WAIT_TIMEOUTS, 2),
            stat(abi.TF_FAIL_LOOKUP, 1), stat(abi.TF_FAIL_EXTRAPOLATION, 2),
            (abi.StatKey(tgid=7, record=abi.STAGE_PROCESSING, object=5),
             abi.StatVal(count=1, sum_ns=1, min_ns=1, max_ns=1))]
    out = decode_tf(rows, {})
    assert set(out) == {TfKey(7, 99)}
    n = out[TfKey(7, 99)]
    assert (n.stages['lookup'].count, n.stages['wait'].count, n.wait_timeouts) == (4, 3, 2)
    assert n.failures == {'lookup': 1, 'extrapolation': 2}


def test_breakdown_counts_failures_by_kind_and_merges():
    merged = numbers().merge(numbers(lookups=5, failed_lookup=1))
    t = build_tf(node='/n', pid=7, host='h', target_frame='map', source_frame='base_link',
                 window_s=1.0, numbers=merged)
    assert (t.lookups, t.waits, t.wait_timeouts, t.failed) == (15, 15, 4, 4)
    d = t.as_dict()
    assert d['failures'] == {'lookup': 4, 'connectivity': 0, 'extrapolation': 0,
                             'timeout': 0, 'other': 0}
    assert d['target_frame'] == 'map' and d['stages']['wait']['count'] == 15
    assert 'map\u2192base_link: 15 lookups' in '\n'.join(tf_lines([t]))


def test_tf_status_judges_failures_and_waits_by_the_config():
    config = parse_config({'targets': [{'node': '/n', 'tf': {
        'failed': {'warn': 0, 'error': 5}, 'wait': {'warn': 50, 'error': 100}}}]})
    t = build_tf(node='/n', pid=7, host='h', target_frame='map', source_frame='base_link',
                 window_s=1.0, numbers=numbers())
    out = {s.name: s for s in monitor_statuses(config, [], MonitorState(host='h'), tf=[t])}
    status = out['rostrace: /n tf map\u2192base_link']
    assert status.level == diag.WARN and status.message == 'failed 3 > warn 0'
    assert ('failed: lookup', '3') in status.values
    calm = diag.tf_status(t, {})
    assert (calm.level, calm.message) == (diag.OK, 'ok, 10 lookups, 3 failed (3 lookup)')
    with pytest.raises(ConfigError, match='unknown tf stage'):
        parse_config({'targets': [{'node': '/n', 'tf': {'latency': {'warn': 1}}}]})


def test_topic_status_names_the_tf_wait_that_dominates_processing():
    n = TopicNumbers(received=10, processed=10)
    n.stages['processing'] = Accumulator(10, 10 * 33 * MS, 31 * MS, 40 * MS)
    n.stages['processing_tf_wait'] = Accumulator(10, 10 * 32 * MS, 30 * MS, 39 * MS)
    b = build_breakdown(node='/n', pid=7, host='h', topic='/scan', window_s=1.0, numbers=n,
                        missing={}, tf=True, tf_wait_frames=('map', 'base_link'))
    assert round(b.tf_wait_share(), 3) == round(32 / 33, 3)
    status = diag.topic_status(b, {})
    assert status.level == diag.WARN
    assert status.message == 'processing dominated by TF wait for map\u2192base_link (97 % of 33.00 ms)'
    assert any('of which TF wait for map\u2192base_link' in line for line in topic_block(b))
    short = TopicNumbers(received=10, processed=10)
    short.stages['processing'] = Accumulator(10, 10 * 33 * MS, 31 * MS, 40 * MS)
    short.stages['processing_tf_wait'] = Accumulator(2, 2 * MS, MS, MS)
    b = build_breakdown(node='/n', pid=7, host='h', topic='/scan', window_s=1.0,
                        numbers=short, missing={}, tf=True)
    assert diag.topic_status(b, {}).level == diag.OK


@pytest.mark.parametrize('mangled,kind', [
    (b'N3tf215LookupExceptionE', 'lookup'),
    (b'N3tf221ConnectivityExceptionE', 'connectivity'),
    (b'N3tf222ExtrapolationExceptionE', 'extrapolation'),
    (b'N3tf216TimeoutExceptionE', 'timeout'),
    (b'N3tf218TransformExceptionE', 'other'),          # not a timeout (tf.c reads 2 letters)
    (b'N3tf224InvalidArgumentExceptionE', 'other'),
    (b'St13runtime_error', None),
    (b'N3ros9ExceptionE', None),
    (b'N3tf', None),
    (b'', None)])
def test_failure_kind_of_a_thrown_type(mangled, kind):
    """The failure kind user space gives a throw whose type name the kernel could not
    read (TF_FAIL_UNREAD), from the name read out of the process: tf.c's classes."""
    assert tf_failure_kind(mangled) == kind
