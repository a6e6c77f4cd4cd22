"""Issue 15 (nodelets): a topic delivered inside a nodelet manager is attributed to the
nodelet that subscribed it — a real manager (nodelet::Loader, libnodeletlib) with its own
WorkNodelets, real probes, against the truth each nodelet writes."""
import collections
import statistics
import time

import pytest

from harness import read_csv, wait_for
from tracing import assert_mean_close, publish, start_trace, stop_trace

from rostrace.model.numbers import Window
from rostrace.system.rosapi import Master

MESSAGES = 100


def truth_durations(path):
    return [(r['cb_end_ns'] - r['cb_start_ns']) * 1e-9 for r in read_csv(path)]


def test_topics_are_attributed_to_the_nodelet_that_subscribed(ros, tmp_path):
    """Two nodelets subscribe one topic with different callbacks, a third its own:
    each row carries its nodelet and that nodelet's own processing time."""
    truth = str(tmp_path / 'nl')
    ros.node('nodelets', 'nl_manager', params={
        'nodelets': ['fast:/nl/shared:2.0', 'slow:/nl/shared:6.0', 'solo:/nl/solo:4.0'],
        'truth_file': truth})
    trace = start_trace(ros, '--node', '/nl_manager', '--interval', '120')
    publish(ros, 'pub_shared', '/nl/shared', count=MESSAGES, rate=30)
    publish(ros, 'pub_solo', '/nl/solo', count=MESSAGES, rate=30)
    files = {'/fast': f'{truth}.fast.csv', '/slow': f'{truth}.slow.csv',
             '/solo': f'{truth}.solo.csv'}
    wait_for(lambda: all(len(read_csv(f)) >= MESSAGES for f in files.values()),
             timeout=60, interval=0.2, what='every nodelet to process its messages')
    reports = stop_trace(ros, trace)
    rows = collections.defaultdict(list)
    for report in reports:
        assert report['node'] == '/nl_manager'
        for t in report['topics']:
            rows[t['nodelet'], t['topic']].append(t)
    assert set(rows) == {('/fast', '/nl/shared'), ('/slow', '/nl/shared'),
                         ('/solo', '/nl/solo')}, sorted(rows)
    for (nodelet, topic), windows in sorted(rows.items()):
        truth_d = truth_durations(files[nodelet])
        processed = sum(w['processed'] for w in windows)
        stages = [w['stages']['processing'] for w in windows if w['stages']['processing']['count']]
        count = sum(s['count'] for s in stages)
        mean = sum(s['mean'] * s['count'] for s in stages) / count
        print(f'{nodelet} {topic}: processed {processed} (truth {len(truth_d)}); max '
              f'{max(s["max"] for s in stages) * 1e3:.3f} ms (truth {max(truth_d) * 1e3:.3f})')
        assert processed == count == len(truth_d) == MESSAGES
        assert_mean_close(mean, statistics.mean(truth_d), f'{nodelet} processing mean')


@pytest.fixture
def tracer():
    from rostrace.engine import Tracer
    t = Tracer()
    yield t
    t.close()


def test_learning_probe_leaves_once_queues_are_mapped_and_returns_for_a_new_nodelet(
        ros, tracer, tmp_path):
    """The addCallback probe costs a hit per message: it is in a manager only until each
    queue is mapped, and comes back for a nodelet loaded later."""
    truth = str(tmp_path / 'nl')
    ros.node('nodelets', 'nl_late', params={
        'nodelets': ['early:/nl/early:1.0'], 'late_nodelets': ['late:/nl/late:4.0'],
        'late_delay': 8.0, 'truth_file': truth})
    target = tracer.attach_node('/nl_late', master=Master(ros.master_uri))
    assert target.nodelet_point is not None
    assert tracer.nodelets.learning(target.pid)
    publish(ros, 'pub_early', '/nl/early', count=0, rate=20)
    totals = Window(window_s=0.0)
    hits = lambda: tracer.probes.tables.hits()['nodelet']     # noqa: E731

    def collect():
        totals.merge(tracer.collect())
        return True
    wait_for(lambda: collect() and not tracer.nodelets.learning(target.pid),
             timeout=20, interval=1.0, what='the early queue mapped')
    settled = hits()
    assert settled > 0
    for _ in range(2):                  # messages keep coming; the probe is out
        time.sleep(1.0)
        collect()
    assert hits() == settled

    publish(ros, 'pub_late', '/nl/late', count=MESSAGES, rate=20)
    wait_for(lambda: collect() and len(read_csv(f'{truth}.late.csv')) >= MESSAGES,
             timeout=40, interval=1.0, what='the late nodelet to process its messages')
    wait_for(lambda: collect() and not tracer.nodelets.learning(target.pid),
             timeout=10, interval=1.0, what='the late queue mapped')
    assert hits() > settled
    by_nodelet = collections.Counter()
    for key, numbers in totals.topics.items():
        by_nodelet[key.nodelet, key.topic] += numbers.processed
    late_truth = len(read_csv(f'{truth}.late.csv'))
    print(dict(by_nodelet))
    # The late queue's first window (before its probe was back) is the manager's alone.
    assert by_nodelet['/late', '/nl/late'] + by_nodelet['', '/nl/late'] == late_truth
    assert by_nodelet['/late', '/nl/late'] >= late_truth // 2
    assert by_nodelet['', '/nl/early'] == 0 and by_nodelet['/early', '/nl/early'] > 0
    (row,) = [b for b in tracer.build(totals) if b.nodelet == '/late']
    assert_mean_close(row.stages['processing'].mean,
                      statistics.mean(truth_durations(f'{truth}.late.csv')[-row.processed:]),
                      'late nodelet processing mean')
