"""Issue 16 (a per-message trace to look at): `rostrace capture` writes Chrome trace-event
JSON; its spans are checked against the truth the scenario nodes write (steady_clock)."""
import bisect
import json
import statistics

from harness import read_csv, read_log, wait_for
from tracing import publish

MESSAGES = 60
FIRINGS = 20
# A span's edge may follow the node's clock reading by a preemption in between: on a
# loaded 2-CPU machine a scheduler slice or two (5.1 ms seen in CI). The means judge
# accuracy; this bound only catches a span paired with the wrong message or firing
# (33 ms apart at 30 msg/s, 50 ms for the timer).
PREEMPTED_US = 10000
US = 1e-3       # a microsecond in the trace's unit is 1; truth is in ns: ns * US = us


def test_capture_spans_match_the_nodes_truth(ros, tmp_path):
    sub_csv, pub_csv, timer_csv = (str(tmp_path / f'{n}.csv') for n in ('sub', 'pub', 'tim'))
    ros.node('processing', 'cap_sub', params={'topic': '/cap/data', 'work_ms': 3.0,
                                              'truth_file': sub_csv})
    ros.node('timers', 'cap_timer', params={'period_ms': 50, 'slow_every': 5,
                                            'slow_ms': 20, 'firings': 100000,
                                            'start_delay': 0.5, 'truth_file': timer_csv})
    output = tmp_path / 'trace.json'
    proc = ros.rostrace('capture', '--node', '/cap_sub', '--node', '/cap_timer',
                        '--duration', '12', '-o', str(output), name='capture')
    wait_for(lambda: 'Capturing' in read_log(proc) or proc.poll() is not None, timeout=60,
             what='rostrace capture to start')
    publish(ros, 'cap_pub', '/cap/data', count=MESSAGES, rate=30, start_delay=2.0,
            truth_file=pub_csv)
    wait_for(lambda: proc.poll() is not None, timeout=60, what='the capture to end')
    assert proc.returncode == 0, read_log(proc)
    trace = json.loads(output.read_text())
    events = trace['traceEvents']
    assert trace['otherData']['dropped_spans'] == 0

    callbacks = sorted((e for e in events if e['ph'] == 'X' and e['cat'] == 'callback'),
                       key=lambda e: e['ts'])
    rows = read_csv(sub_csv)
    assert len(callbacks) == len(rows) == MESSAGES
    lead, lag = [], []
    for span, row in zip(callbacks, rows):
        assert span['name'] == 'callback /cap/data'
        # The span runs from the end of deserialization to the callback's return: it
        # holds the node's own [start, end] (which leaves out the node's bookkeeping
        # and truth row after its end), closely.
        lead.append(row['cb_start_ns'] * US - span['ts'])
        lag.append(span['ts'] + span['dur'] - row['cb_end_ns'] * US)
    print(f'\ncallback span vs truth: starts {max(lead):.1f} us before at most '
          f'(mean {sum(lead) / len(lead):.1f}), ends {max(lag):.1f} us after at most '
          f'(mean {sum(lag) / len(lag):.1f})')
    assert min(lead) >= -1 and min(lag) >= -1
    # typically close (the median: one preemption of a loaded run moved a mean of 60
    # to 129 us); every one below PREEMPTED_US
    assert statistics.median(lead) < 100 and statistics.median(lag) < 100
    assert max(lead) < PREEMPTED_US and max(lag) < PREEMPTED_US
    publishes = sorted((e for e in events if e['ph'] == 'X' and e['cat'] == 'publish'
                        and e['name'] == 'publish /cap/data'), key=lambda e: e['ts'])
    sent = read_csv(pub_csv)
    assert len(publishes) == len(sent) == MESSAGES
    # The span starts at roscpp's hand-off, right after the node read its clock (a
    # preemption in between delays one now and then).
    gaps = [span['ts'] - row['pub_start_ns'] * US for span, row in zip(publishes, sent)]
    assert min(gaps) >= -1 and sum(gaps) / len(gaps) < 100 and max(gaps) < PREEMPTED_US, gaps
    # Every message's flow arrow goes from its publish to its callback.
    starts = {e['id']: e for e in events if e['ph'] == 's'}
    ends = [e for e in events if e['ph'] == 'f']
    assert len(ends) == MESSAGES and all(e['id'] in starts for e in ends)
    assert all(starts[e['id']]['pid'] != e['pid'] for e in ends)

    # The timer fires all along: each span is the firing that ended with it.
    timers = [e for e in events if e['ph'] == 'X' and e['cat'] == 'timer']
    # (the timer node writes its truth every 100 ms: the last firings' rows come later)
    last_end = max(t['ts'] + t['dur'] for t in timers) if timers else 0
    wait_for(lambda: max((r['end_ns'] * US for r in read_csv(timer_csv)), default=0)
             >= last_end - PREEMPTED_US, timeout=10, what="the timer's truth of every captured firing")
    rows = sorted(read_csv(timer_csv), key=lambda r: r['end_ns'])
    row_ends = [r['end_ns'] * US for r in rows]
    assert len(timers) >= FIRINGS
    assert all(t['name'].startswith('timer Controller::update') for t in timers)
    # A timer span lasts roscpp's own measure of the callback (it also holds the node's
    # bookkeeping after its clock reading): close to the node's on average.
    # Its firing: the node's latest end at most 1 us after the span's end (the span ends
    # after the node's clock reading), on average within 100 us of it.
    diffs, shifts = [], []
    for span in timers:
        end = span['ts'] + span['dur']
        i = bisect.bisect_right(row_ends, end + 1) - 1
        assert i >= 0 and end - row_ends[i] < PREEMPTED_US, span
        row = rows[i]
        shifts.append(end - row_ends[i])
        diffs.append(span['dur'] - (row['end_ns'] - row['start_ns']) * US)
    print(f'timer span - the node\'s duration: mean {sum(diffs) / len(diffs):.1f} us, '
          f'max {max(diffs):.1f} us; its end after the node\'s: mean '
          f'{sum(shifts) / len(shifts):.1f} us, max {max(shifts):.1f} us')
    assert sum(shifts) / len(shifts) < 100
    assert min(diffs) >= -1 and sum(diffs) / len(diffs) < 100 and max(diffs) < PREEMPTED_US
    names = {e['args']['name'] for e in events if e['ph'] == 'M'
             and e['name'] == 'process_name'}
    assert {'/cap_sub', '/cap_timer', '/cap_pub'} <= names
