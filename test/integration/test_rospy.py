"""Issue 20: rospy subscribers traced without a probe in the interpreter (syscall and
scheduler tracepoints; probes/bpf/rospy.c), against the rospy scenario node's own truth
(time.monotonic_ns()). Real roscore, real rospy node, real roscpp publisher, real BPF."""
from harness import count_rows, read_csv, wait_for
from monitoring import echo, echoed, start_monitor, write_config
from tracing import (assert_mean_close, combined, durations_s, publish, settle, start_trace,
                     stop_trace, topic_windows)

TOPIC = '/rospy/data'


def measure_processing(ros, tmp_path, name, work_ms):
    """(rostrace's processing mean, the callbacks' own mean) of 100 messages."""
    truth, topic = str(tmp_path / f'{name}.csv'), f'{TOPIC}/{name}'
    ros.node('rospy_subscriber', name, params={'work_ms': work_ms, 'truth_file': truth,
                                               'topic': topic})
    trace = start_trace(ros, '--node', f'/{name}', '--interval', '120')
    settle(0.5)             # its connections are looked at every 0.5 s
    publish(ros, f'pub_{name}', topic, count=100, rate=40, start_delay=3.0)
    wait_for(lambda: count_rows(truth) >= 100, timeout=30, interval=0.5, what='100 callbacks')
    settle(1.5)
    windows = topic_windows(stop_trace(ros, trace), topic)
    rows = read_csv(truth)
    assert len(rows) == 100
    assert sum(w['received'] for w in windows) == 100
    assert sum(w['processed'] for w in windows) == 100
    assert sum(w['dropped'] for w in windows) == 0
    count, mean = combined(windows, 'processing')
    assert count == 100
    count, wait = combined(windows, 'queuing')
    # the connection's first read has none (its byte counts are aligned there)
    assert count == 99 and 0 < wait < 2e-3      # fed slower than it serves: read at once
    assert not windows[0]['stages']['deserialization']['available']
    assert windows[0]['client'] == 'rospy'
    truth_d = durations_s(rows)
    stages = windows[0]['stages']
    print(f"\nrospy {work_ms} ms callback: processing mean {mean * 1e3:.3f} ms (p50 "
          f"{stages['processing']['p50'] * 1e3:.3f}), truth {sum(truth_d) / 100 * 1e3:.3f} ms; "
          f"socket wait {wait * 1e6:.1f} us; on CPU "
          f"{stages['processing_oncpu']['mean'] * 1e3:.3f} ms, runqueue "
          f"{stages['processing_runqueue']['mean'] * 1e3:.3f} ms")
    return mean, sum(truth_d) / len(truth_d)


def test_rospy_processing_and_counts_match_callback_truth(ros, tmp_path):
    """rospy's processing is deserialization + callback (rospy has no queue between
    them, nor any syscall): against the callbacks' own time it reads long by rospy's
    own per-message work, the same whatever the callback does. The callback's share
    is checked as the difference of two callback lengths."""
    short, short_truth = measure_processing(ros, tmp_path, 'rospy_short', 2.0)
    long, long_truth = measure_processing(ros, tmp_path, 'rospy_long', 10.0)
    for measured, truth in ((short, short_truth), (long, long_truth)):
        assert 0 < measured - truth < 0.5e-3, (measured, truth)   # rospy's own work
    assert_mean_close(long - short, long_truth - short_truth,
                      'rospy processing, 10 ms - 2 ms callback')


def test_rospy_queue_size_drops_exact_against_sequence_gaps(ros, tmp_path):
    truth, published = str(tmp_path / 'drops.csv'), str(tmp_path / 'published.csv')
    ros.node('rospy_subscriber', 'rospy_drops', params={
        'work_ms': 20.0, 'queue_size': 1, 'truth_file': truth})
    trace = start_trace(ros, '--node', '/rospy_drops', '--interval', '120')
    settle(1.5)
    publish(ros, 'pub', TOPIC, count=200, rate=200, start_delay=3.0,
            truth_file=published)
    wait_for(lambda: count_rows(published) == 200, timeout=30, interval=0.5, what='200 published')
    settle(2.0)
    windows = topic_windows(stop_trace(ros, trace), TOPIC)
    rows = read_csv(truth)
    inferred = sum(r['gap'] for r in rows) + (rows[0]['seq'] - 1) + (200 - rows[-1]['seq'])
    print(f'\nrospy drops: truth {inferred}, rostrace {sum(w["dropped"] for w in windows)}; '
          f'received {sum(w["received"] for w in windows)}, processed '
          f'{sum(w["processed"] for w in windows)} (truth {len(rows)})')
    assert inferred == 200 - len(rows) > 50
    assert sum(w['received'] for w in windows) == 200
    assert sum(w['dropped'] for w in windows) == inferred
    assert sum(w['processed'] for w in windows) == len(rows)


def test_monitor_publishes_a_rospy_nodes_breakdown(ros, tmp_path):
    config = write_config(tmp_path / 'm.yaml', '''
publish_rate: 2
window: 120
targets: [{node: /rospy_mon}]
''')
    truth, topic = str(tmp_path / 'mon.csv'), '/rospy/monitored'
    ros.node('rospy_subscriber', 'rospy_mon', params={'work_ms': 5.0, 'truth_file': truth,
                                                      'topic': topic})
    listener = echo(ros, '/rostrace/latency', 'echo_latency')
    start_monitor(ros, config, attached=['/rospy_mon'])
    settle(1.0)
    publish(ros, 'pub_mon', topic, count=60, rate=30, start_delay=3.0)
    wait_for(lambda: count_rows(truth) >= 60, timeout=30, interval=0.5, what='60 callbacks')
    msg = wait_for(lambda: next((m for m in reversed(echoed(listener))
                                 if m['topic'] == topic and m['received'] == 60), None),
                   timeout=10, what='a breakdown with all 60 messages')
    assert (msg['processed'], msg['dropped'], msg['client']) == (60, 0, 'rospy')
    truth_d = durations_s(read_csv(truth))
    assert 0 < msg['processing']['mean'] - sum(truth_d) / len(truth_d) < 0.5e-3
