"""Issue 21 (older kernels): the program's fallbacks, taken here by their test switches --
per-CPU perf buffers where the kernel has no BPF ring buffer (Linux < 5.8),
bpf_probe_read where it has no bpf_probe_read_user (< 5.5), window maps read entry by
entry where it has no batched reads (< 5.6). Real roscore, real roscpp
scenario nodes, real probes, compared with the nodes' own truth."""
import json
import statistics

import pytest

from harness import read_csv, read_log, wait_for
from test_transport import Totals, assert_close as assert_link_close, trace_publishers, \
    truth_transport, wait_rows
from tracing import US, assert_close, publish

from rostrace.system import features
from rostrace.system.rosapi import Master

FALLBACKS = (features.PERF_EVENTS, features.PROBE_READ, features.ENTRY_READS)
SWITCHES = {f.switch: '1' for f in FALLBACKS}
MESSAGES = 300


@pytest.fixture(scope='module')
def fallback_tracer():
    """A Tracer compiled as for an old kernel that hands no connection to the kernel:
    every message crosses the perf buffers to the user-space matcher."""
    from rostrace.engine import Tracer
    with pytest.MonkeyPatch.context() as patch:
        for name, value in SWITCHES.items():
            patch.setenv(name, value)
        t = Tracer(match_in_kernel=False)
    yield t
    t.close()


def test_every_message_pairs_through_perf_buffers(ros, fallback_tracer, tmp_path):
    tracer = fallback_tracer
    assert tracer.probes.fallbacks == list(FALLBACKS) and tracer.probes.perf_events
    sub_truth, pub_truth = str(tmp_path / 'sub.csv'), str(tmp_path / 'pub.csv')
    ros.node('processing', 'sub', params={'work_ms': 2.0, 'truth_file': sub_truth})
    # Two CPUs' worth of publishers and subscriber threads: events on both CPUs' buffers.
    publish(ros, 'pub', '/processing/data', count=MESSAGES, rate=200, size=512,
            start_delay=5.0, truth_file=pub_truth)
    tracer.attach_node('/sub', master=Master(ros.master_uri))
    trace_publishers(tracer, ros, ['/pub'])
    totals = Totals(tracer)
    wait_rows(totals, sub_truth, MESSAGES)

    def matched():
        link = totals.links('/sub', '/processing/data').get('/pub')
        return link is not None and link.messages >= MESSAGES
    wait_for(matched, timeout=10, interval=0.3, what='every message matched')

    assert tracer.probes.tables.lost() == {k: 0 for k in tracer.probes.tables.lost()}
    b = totals.breakdown('/sub', '/processing/data')
    rows = read_csv(sub_truth)
    assert (b.received, b.processed, b.dropped) == (MESSAGES, MESSAGES, 0)
    assert_close(b.stages['processing'].mean,
                 statistics.mean((r['cb_end_ns'] - r['cb_start_ns']) * 1e-9 for r in rows),
                 'processing')
    link = {lk.publisher: lk for lk in b.links}['/pub']
    assert (link.messages, link.dropped) == (MESSAGES, 0)
    # Matched in user space: no kernel-only split (network, socket wait).
    assert link.stages['transport'].count == MESSAGES
    assert link.stages['network'].count == 0
    transport, e2e = truth_transport(read_csv(pub_truth), rows)
    assert len(transport) == MESSAGES
    assert_link_close(link.stages['transport'].mean, statistics.mean(transport), 'transport',
                      rel=0.10, floor_s=40 * US)
    assert_link_close(link.stages['end_to_end'].mean, statistics.mean(e2e), 'end-to-end',
                      rel=0.03, floor_s=60 * US)
    for pid in list(tracer.targets) + list(tracer.publisher_targets):
        tracer.detach(pid)


def test_capture_through_perf_buffers(ros, tmp_path):
    """`rostrace capture` with the ring buffer switched off: a span per message."""
    n = 40
    sub_truth = str(tmp_path / 'sub.csv')
    ros.node('processing', 'cap_sub', params={'topic': '/cap/data', 'work_ms': 1.0,
                                              'truth_file': sub_truth})
    output = tmp_path / 'trace.json'
    proc = ros.rostrace('capture', '--node', '/cap_sub', '--duration', '8', '-o',
                        str(output), name='capture', env=SWITCHES)
    wait_for(lambda: 'Capturing' in read_log(proc) or proc.poll() is not None, timeout=60,
             what='rostrace capture to start')
    publish(ros, 'cap_pub', '/cap/data', count=n, rate=20, start_delay=1.0)
    wait_for(lambda: proc.poll() is not None, timeout=60, what='the capture to end')
    assert proc.returncode == 0, read_log(proc)
    trace = json.loads(output.read_text())
    spans = [e for e in trace['traceEvents'] if e['ph'] == 'X' and e['cat'] == 'callback']
    assert trace['otherData']['dropped_spans'] == 0
    assert len(spans) == len(read_csv(sub_truth)) == n


def tracer_without(names, **kwargs):
    """A Tracer compiled as for a kernel without these tracepoint groups."""
    from rostrace.engine import Tracer
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(features.TRACEPOINTS_SWITCH, ','.join(names))
        return Tracer(**kwargs)


@pytest.mark.parametrize('gone', [('sched', 'page_fault', 'tcp_probe'), ('recvfrom', 'sendto')],
                         ids=['scheduler_and_network', 'syscalls'])
def test_missing_tracepoints_make_their_numbers_unavailable(ros, tmp_path, gone):
    """What needs a missing tracepoint reads unavailable with the reason; the rest of
    the breakdown stays right."""
    from rostrace.model.breakdown import LINK_SPLIT_STAGES, SPLIT_STAGES
    tracer = tracer_without(gone)
    try:
        assert [t.name for t in tracer.probes.missing_tracepoints] == list(gone)
        sub_truth, pub_truth = str(tmp_path / 'sub.csv'), str(tmp_path / 'pub.csv')
        ros.node('processing', 'sub', params={'work_ms': 2.0, 'truth_file': sub_truth})
        publish(ros, 'pub', '/processing/data', count=100, rate=100, size=256,
                start_delay=5.0, truth_file=pub_truth)
        tracer.attach_node('/sub', master=Master(ros.master_uri))
        trace_publishers(tracer, ros, ['/pub'])
        totals = Totals(tracer)
        wait_rows(totals, sub_truth, 100)
        b = totals.breakdown('/sub', '/processing/data')
        rows = read_csv(sub_truth)
        assert (b.received, b.processed, b.dropped) == (100, 100, 0)
        assert_close(b.stages['processing'].mean,
                     statistics.mean((r['cb_end_ns'] - r['cb_start_ns']) * 1e-9 for r in rows),
                     'processing')
        links = {lk.publisher: lk for lk in b.links}
        if 'sched' in gone:
            for name in SPLIT_STAGES:
                assert not b.stages[name].available
                assert 'sched:sched_switch' in b.stages[name].reason
            assert set(b.per_callback) == set()
            link = links['/pub']
            assert link.messages == 100 and link.stages['transport'].count == 100
            for name in LINK_SPLIT_STAGES + ('network', 'socket_wait'):
                assert not link.stages[name].available, name
            assert 'tcp:tcp_probe' in link.stages['network'].reason
        else:
            assert all(b.stages[name].available for name in SPLIT_STAGES)
            assert links == {}
            assert 'syscalls:sys_enter_recvfrom' in b.transport_note
            assert 'syscalls:sys_enter_sendto' in b.transport_note
    finally:
        tracer.close()
