"""`make demo`: a private roscore, the scenario nodes, and rostrace tracing all of
them live (one BPF program attached to each node's PID). Ctrl-C ends it and stops
everything it started. DEMO_DURATION=S ends it after S seconds."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test'))

from harness import RosSystem  # noqa: E402

from rostrace.engine import Tracer  # noqa: E402
from rostrace.errors import RostraceError  # noqa: E402
from rostrace.render import table  # noqa: E402
from rostrace.targets import Master  # noqa: E402

NODES = ['/processing_delay_node', '/queuing_node', '/overload_node',
         '/large_messages_node', '/multi_threaded_node']


def main():
    duration = float(os.environ.get('DEMO_DURATION', '0'))
    signal.signal(signal.SIGTERM, signal.default_int_handler)    # end like Ctrl-C
    ros = RosSystem()
    tracer = None
    try:
        print(f'demo: starting a private roscore at {ros.start().master_uri}')
        ros.spawn(['roslaunch', '--wait', 'rostrace', 'scenarios.launch'], 'scenarios')
        for node in NODES:
            ros.wait_node(node)
        print('demo: scenario nodes running: ' + ' '.join(NODES))
        print('demo: compiling the BPF program and calibrating the probe cost...')
        os.environ['ROS_MASTER_URI'] = ros.master_uri
        tracer = Tracer()
        master = Master(ros.master_uri)
        for node in NODES:
            t = tracer.attach_node(node, master=master)
            print(f'demo: tracing {node} (pid {t.pid}) through {os.path.basename(t.library)}')
        print(f'demo: probe cost {tracer.probe_cost_us:.1f} us per entry+return pair; '
              'stages show mean/p99, * = dominant. Ctrl-C to end.\n')
        tracer.snapshot()
        start = time.monotonic()
        while not duration or time.monotonic() - start < duration:
            time.sleep(1.0)
            print('\n'.join(table(tracer.snapshot())) + '\n', flush=True)
        return 0
    except KeyboardInterrupt:
        return 0
    except RostraceError as err:
        print(f'demo: error: {err}', file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if tracer:
            tracer.close()
        ros.shutdown()
        print('demo: stopped everything it started')


if __name__ == '__main__':
    sys.exit(main())
