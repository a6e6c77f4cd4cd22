"""Never kill a target: a subscription callback that throws, caught by the node's own
code around ros::spinOnce() -- traced, the node lives on and the throws are counted
(no return probe on SubscriptionQueue::call, whose frame the exception passes)."""
import statistics
import time

from harness import read_csv, wait_for
from tracing import US, publish

from rostrace.model.numbers import Window
from rostrace.system.rosapi import Master


def test_throwing_callback_survives_and_is_counted(ros, tmp_path):
    from rostrace.engine import Tracer
    truth = str(tmp_path / 'thr.csv')
    node = ros.node('throwing', 'thrower', params={'throw_every': 5, 'work_ms': 2.0,
                                                   'truth_file': truth})
    tracer = Tracer()
    try:
        tracer.attach_node('/thrower', master=Master(ros.master_uri))
        publish(ros, 'thr_pub', '/throwing/data', count=52, rate=50, start_delay=1.0)
        totals = Window(window_s=0.0)

        def done():
            totals.merge(tracer.collect())
            return len(read_csv(truth)) >= 52
        wait_for(done, timeout=60, interval=0.5, what='52 callbacks')
        time.sleep(0.5)
        totals.merge(tracer.collect())
        assert node.poll() is None, 'the traced node died'
        (b,) = tracer.build(totals)
        rows = read_csv(truth)
        print(f'\nreceived {b.received}, processed {b.processed}, threw {b.exceptions}')
        assert (b.received, b.processed, b.exceptions) == (52, 42, 10)
        fine = [(r['cb_end_ns'] - r['cb_start_ns']) * 1e-9 for r in rows if not r['threw']]
        processing = b.stages['processing'].mean
        print(f'processing: rostrace {processing * 1e3:.3f} ms, truth '
              f'{statistics.mean(fine) * 1e3:.3f} ms')
        assert abs(processing - statistics.mean(fine)) <= max(0.02 * processing, 50 * US)
        tracer.detach(b.pid)
        assert node.poll() is None
    finally:
        tracer.close()
