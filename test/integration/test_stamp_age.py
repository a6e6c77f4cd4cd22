"""Issue 16 (message age): stamp_age = roscpp's receipt time - header.stamp, for every
traced topic whose type starts with a std_msgs/Header — real nodes, real probes, against
the age the subscriber computes from the same MessageEvent."""
import statistics

import pytest

from harness import read_csv, wait_for
from tracing import publish

from rostrace.model.numbers import Window
from rostrace.system.rosapi import Master

MESSAGES = 80


@pytest.fixture
def tracer():
    from rostrace.engine import Tracer
    t = Tracer()
    yield t
    t.close()


def test_stamp_age_matches_the_subscribers_own_and_clocks_ahead_are_said(ros, tracer,
                                                                         tmp_path):
    truth = {name: str(tmp_path / f'{name}.csv') for name in ('aged', 'ahead', 'plain')}
    for name, stamped in (('aged', True), ('ahead', True), ('plain', False)):
        ros.node('processing', name, params={'topic': f'/st/{name}', 'work_ms': 2.0,
                                             'stamped': stamped, 'truth_file': truth[name]})
    master = Master(ros.master_uri)
    for name in truth:
        tracer.attach_node(f'/{name}', master=master)
    publish(ros, 'pub_aged', '/st/aged', count=MESSAGES, rate=50, stamped=True,
            start_delay=2.0)
    publish(ros, 'pub_ahead', '/st/ahead', count=MESSAGES, rate=50, stamped=True,
            stamp_offset_ms=500, start_delay=2.0)
    publish(ros, 'pub_plain', '/st/plain', count=MESSAGES, rate=50, start_delay=2.0)
    totals = Window(window_s=0.0)

    def collect():
        totals.merge(tracer.collect())
        tracer.follow_publishers(master)
        return True
    wait_for(lambda: collect() and all(len(read_csv(f)) >= MESSAGES for f in truth.values()),
             timeout=60, interval=0.5, what='every subscriber to process its messages')
    collect()
    rows = {b.topic: b for b in tracer.build(totals)}
    aged = rows['/st/aged']
    ages = [r['stamp_age_ns'] * 1e-9 for r in read_csv(truth['aged'])]
    s = aged.stages['stamp_age']
    print(f'\nstamp_age: rostrace mean {s.mean * 1e3:.4f} ms max {s.max * 1e3:.4f} ms; '
          f'truth mean {statistics.mean(ages) * 1e3:.4f} ms max {max(ages) * 1e3:.4f} ms')
    # The same two clock readings (roscpp's receipt time, the stamp): equal to the ns.
    assert s.count == len(ages) == MESSAGES and aged.stamp_ahead == 0
    assert s.mean == pytest.approx(statistics.mean(ages), abs=1e-6)
    assert s.max == pytest.approx(max(ages), abs=1e-6)
    ahead = rows['/st/ahead']
    assert ahead.stamp_ahead == MESSAGES and not ahead.stages['stamp_age'].available
    plain = rows['/st/plain']
    assert not plain.stages['stamp_age'].available and plain.stamp_ahead == 0
    assert 'header' in plain.stages['stamp_age'].reason
