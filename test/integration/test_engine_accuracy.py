"""Issue 3 acceptance: rostrace's stages against the scenario nodes' own truth.

Real roscore, real roscpp scenario nodes, real BPF uprobes; nothing mocked.
Bounds: means within max(2 %, 100 us), p99 within 7 %, counts exact.
"""
from harness import count_rows, read_csv, wait_for
from tracing import (assert_mean_close, assert_p99_close, combined, durations_s,
                     publish, settle, start_trace, stop_trace, topic_windows)

def test_processing_stage_matches_callback_truth(ros, tmp_path):
    truth = str(tmp_path / 'processing.csv')
    ros.node('processing', 'processing_node', params={'work_ms': 8.0, 'truth_file': truth})
    trace = start_trace(ros, '--node', '/processing_node', '--interval', '120')
    # 200 samples: p99 is not just the single largest one, which one preemption
    # between SubscriptionQueue::call and the callback would decide.
    publish(ros, 'pub', '/processing/data', count=200, rate=50)
    wait_for(lambda: count_rows(truth) >= 200, timeout=30, interval=0.5, what='200 callbacks')
    settle()
    windows = topic_windows(stop_trace(ros, trace), '/processing/data')
    rows = read_csv(truth)

    assert sum(w['received'] for w in windows) == len(rows) == 200
    assert sum(w['processed'] for w in windows) == 200
    assert sum(w['dropped'] for w in windows) == 0
    count, mean = combined(windows, 'processing')
    assert count == 200
    truth_d = durations_s(rows)
    assert_mean_close(mean, sum(truth_d) / len(truth_d), 'processing mean')
    assert len(windows) == 1
    assert_p99_close(windows[0]['stages']['processing']['p99'], truth_d,
                     'processing')


def test_sleeping_callback_processing(ros, tmp_path):
    truth = str(tmp_path / 'sleep.csv')
    ros.node('processing', 'sleeper', params={'work_ms': 15.0, 'work_mode': 'sleep',
                                              'truth_file': truth})
    trace = start_trace(ros, '--node', '/sleeper', '--interval', '120')
    publish(ros, 'pub', '/processing/data', count=30, rate=30)
    wait_for(lambda: count_rows(truth) >= 30, timeout=30, interval=0.5, what='30 callbacks')
    settle()
    windows = topic_windows(stop_trace(ros, trace), '/processing/data')
    truth_d = durations_s(read_csv(truth))
    count, mean = combined(windows, 'processing')
    assert count == 30
    assert_mean_close(mean, sum(truth_d) / len(truth_d), 'sleeping processing mean')


def test_queuing_behind_slow_callback(ros, tmp_path):
    truth = str(tmp_path / 'queuing.csv')
    ros.node('queuing', 'queuing_node', params={'slow_ms': 20.0, 'fast_ms': 0.1,
                                                'truth_file': truth})
    trace = start_trace(ros, '--node', '/queuing_node', '--interval', '120')
    publish(ros, 'slow_pub', '/queuing/slow', count=40, rate=10)
    publish(ros, 'fast_pub', '/queuing/fast', count=400, rate=100)
    wait_for(lambda: count_rows(truth) >= 440, timeout=60, interval=0.5, what='440 callbacks')
    settle()
    windows = topic_windows(stop_trace(ros, trace), '/queuing/fast')
    rows = [r for r in read_csv(truth) if r['topic'] == '/queuing/fast']
    assert sum(w['received'] for w in windows) == len(rows) == 400
    count, queuing = combined(windows, 'queuing')
    _, deser = combined(windows, 'deserialization')
    assert count == 400
    # The node's wait (callback start - receipt) spans queuing + deserialization.
    waits = [r['wait_ns'] * 1e-9 for r in rows]
    assert max(waits) > 5e-3, 'the scenario did not make fast messages wait'
    assert_mean_close(queuing + deser, sum(waits) / len(waits), 'queuing mean')
    assert_p99_close(windows[0]['stages']['queuing']['p99'] + deser,
                     waits, 'queuing')


def test_drops_by_full_subscription_queue(ros, tmp_path):
    truth = str(tmp_path / 'overload.csv')
    ros.node('overload', 'overload_node', params={'work_ms': 20.0, 'queue_size': 2,
                                                  'truth_file': truth})
    trace = start_trace(ros, '--node', '/overload_node', '--interval', '120')
    published = str(tmp_path / 'published.csv')
    publish(ros, 'pub', '/overload/data', count=200, rate=200, truth_file=published)
    wait_for(lambda: count_rows(published) == 200, timeout=30, interval=0.5, what='200 published')
    settle(1.0)
    windows = topic_windows(stop_trace(ros, trace), '/overload/data')
    rows = read_csv(truth)
    inferred = sum(r['gap'] for r in rows) + (rows[0]['seq'] - 1)
    assert inferred == 200 - len(rows) > 50
    assert sum(w['dropped'] for w in windows) == inferred
    assert sum(w['received'] for w in windows) == 200
    assert sum(w['processed'] for w in windows) == len(rows)


def test_deserialization_grows_along_payload_ladder(ros, tmp_path):
    truth = str(tmp_path / 'large.csv')
    sizes = [1024, 65536, 1048576, 8388608]
    ros.node('large_messages', 'large_node', params={'truth_file': truth})
    trace = start_trace(ros, '--node', '/large_node', '--interval', '0.5')
    done = 0
    for i, size in enumerate(sizes):
        publish(ros, f'pub{i}', '/large/data', count=12, rate=12, size=size)
        done += 12
        wait_for(lambda: count_rows(truth) >= done, timeout=60, interval=0.5, what=f'{size} B burst')
        settle(1.2)        # a quiet window between sizes
    reports = stop_trace(ros, trace)
    rows = read_csv(truth)
    # Windows hold processed messages in order: attribute each pure window to a size.
    mean_by_size, seen = {}, 0
    for w in topic_windows(reports, '/large/data'):
        batch = rows[seen:seen + w['processed']]
        seen += w['processed']
        batch_sizes = {r['size'] for r in batch}
        if len(batch_sizes) == 1 and w['stages']['deserialization']['count']:
            # the window's median: one message stalled by something else (e.g. a
            # uprobe being attached elsewhere) must not decide the order
            mean_by_size.setdefault(batch_sizes.pop(), []).append(
                w['stages']['deserialization']['p50'])
    assert seen == len(rows) == 48
    means = [sum(mean_by_size[s]) / len(mean_by_size[s]) for s in sizes]
    print('\ndeserialization median by size: ' + ', '.join(
        f'{s} B: {m * 1e6:.1f} us' for s, m in zip(sizes, means)))
    # 1 KiB and 64 KiB both take ~10-40 us here, mostly fixed cost (a cold cache, the
    # allocation): their order is noise (a clean run had 37 vs 22 us). From 64 KiB on,
    # the copy dominates and each step must be slower; 8 MiB more than 10x 1 KiB.
    assert means[1:] == sorted(means[1:]) and means[2] > means[0], means
    assert means[-1] > 10 * means[0], means


def test_multi_threaded_spinner_and_custom_queue(ros, tmp_path):
    truth = str(tmp_path / 'mt.csv')
    ros.node('multi_threaded', 'mt_node', params={'threads': 4, 'work_ms': 3.0,
                                                  'truth_file': truth})
    trace = start_trace(ros, '--node', '/mt_node', '--interval', '120')
    for i, topic in enumerate(('/mt/a', '/mt/b', '/mt/c')):
        publish(ros, f'pub{i}', topic, count=200, rate=100)
    wait_for(lambda: count_rows(truth) >= 600, timeout=60, interval=0.5, what='600 callbacks')
    settle()
    reports = stop_trace(ros, trace)
    rows = read_csv(truth)
    for topic in ('/mt/a', '/mt/b', '/mt/c'):
        windows = topic_windows(reports, topic)
        mine = [r for r in rows if r['topic'] == topic]
        assert sum(w['received'] for w in windows) == len(mine) == 200, topic
        count, mean = combined(windows, 'processing')
        assert count == 200, topic
        truth_d = durations_s(mine)
        assert_mean_close(mean, sum(truth_d) / len(truth_d), f'{topic} processing mean')
        assert_p99_close(windows[0]['stages']['processing']['p99'],
                         truth_d, topic)
        qcount, queuing = combined(windows, 'queuing')
        _, deser = combined(windows, 'deserialization')
        waits = [r['wait_ns'] * 1e-9 for r in mine]
        assert qcount == 200
        assert_mean_close(queuing + deser, sum(waits) / len(waits), f'{topic} queuing mean')


def test_messages_queued_before_tracing_are_ignored_not_mispaired(ros, tmp_path):
    truth = str(tmp_path / 'backlog.csv')
    ros.node('processing', 'backlog_node', params={'work_ms': 25.0, 'queue_size': 1000,
                                                   'truth_file': truth})
    # 50 msg/s in, 40 msg/s out: a backlog grows, and publishing goes on until rostrace
    # has compiled and attached, however long that takes (6-7 s here; 20 s on a loaded
    # clean run and in the emulated VM, where a fixed 700 messages had all been pushed
    # before the probes were in).
    published = str(tmp_path / 'published.csv')
    pub = publish(ros, 'pub', '/processing/data', count=0, rate=50, truth_file=published)
    wait_for(lambda: count_rows(truth) >= 5, timeout=30, interval=0.5, what='a backlog')
    trace = start_trace(ros, '--node', '/backlog_node', '--interval', '120')
    settle(3.0)                                        # pushed after attaching
    ros.stop(pub)
    # the last few published may never leave the publisher (its outgoing queue at exit)
    total = count_rows(published)
    wait_for(lambda: count_rows(truth) >= total - 20, timeout=90, interval=0.5,
             what=f'{total - 20} callbacks')
    last = [-1]

    def quiet():                    # no callback for 1 s: the backlog is served
        n, last[0] = last[0], count_rows(truth)
        return n == last[0]
    wait_for(quiet, timeout=30, interval=1.0, what='the backlog to be served')
    total = count_rows(truth)
    windows = topic_windows(stop_trace(ros, trace), '/processing/data')
    rows = read_csv(truth)
    received = sum(w['received'] for w in windows)     # pushed after attaching
    processed = sum(w['processed'] for w in windows)
    count, queuing = combined(windows, 'queuing')
    _, deser = combined(windows, 'deserialization')
    assert 0 < received < processed <= total == len(rows)   # a backlog existed at attach
    assert count == received                           # only those are paired
    later = sorted(rows, key=lambda r: r['seq'])[-received:]
    waits = [r['wait_ns'] * 1e-9 for r in later]
    assert_mean_close(queuing + deser, sum(waits) / len(waits), 'backlog queuing mean')
