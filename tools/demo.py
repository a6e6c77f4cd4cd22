"""`make demo`: a private roscore and launch/demo.launch (the scenario nodes, the
rostrace monitor and diagnostic_aggregator); shows what the monitor publishes on
/rostrace/latency and how /diagnostics_agg rates it, live. Ctrl-C ends it and stops
everything it started. DEMO_DURATION=S ends it after S seconds."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test'))

from harness import RosSystem  # noqa: E402

LEVELS = {0: 'OK', 1: 'WARN', 2: 'ERROR', 3: 'STALE'}


def live_view(duration):
    import rospy
    from diagnostic_msgs.msg import DiagnosticArray
    from rostrace.msg import LatencyBreakdown, ServiceBreakdown, TimerBreakdown
    from rostrace.output.messages import breakdown_from_msg
    from rostrace.views.render import human, link_table, table

    latest, statuses = {}, {}
    rospy.init_node('rostrace_demo_view', anonymous=True, disable_signals=True)
    rospy.Subscriber('/rostrace/latency', LatencyBreakdown,
                     lambda m: latest.__setitem__((m.node, m.topic), breakdown_from_msg(m)))
    objects = {}        # timers and services: one line each
    rospy.Subscriber('/rostrace/timers', TimerBreakdown, lambda m: objects.__setitem__(
        (m.node, m.timer), f'timer   {m.node} {m.timer[:40]}: every {human(m.period)}, '
        f'{m.count} fired, {m.missed} missed, late {human(m.lateness.mean)}/'
        f'{human(m.lateness.p99)}, callback {human(m.duration.mean)}'))
    rospy.Subscriber('/rostrace/services', ServiceBreakdown, lambda m: objects.__setitem__(
        (m.node, m.service, m.role), f'service {m.node} {m.service} ({m.role}): {m.count}, '
        f'{m.failed + m.threw} failed, ' + (
            f'handling {human(m.handling.mean)}/{human(m.handling.p99)}'
            if m.role == 'server' else
            f'round trip {human(m.round_trip.mean)}/{human(m.round_trip.p99)}')))
    rospy.Subscriber('/diagnostics_agg', DiagnosticArray, lambda m: statuses.update(
        {s.name: (s.level, s.message) for s in m.status if s.name.startswith('/rostrace/')}))
    start = time.monotonic()
    while not duration or time.monotonic() - start < duration:
        time.sleep(1.0)
        if not latest:
            print('demo: waiting for the monitor (it compiles its BPF program first)...')
            continue
        shown = [latest[k] for k in sorted(latest)]
        print('\n'.join(table(shown)))
        links = link_table(shown)
        if links:
            print('publishers (same host): ' + 'mean/p99 per stage')
            print('\n'.join(links))
        for key in sorted(objects):
            print(objects[key])
        worst = [f'{LEVELS.get(level, level)} {name[len("/rostrace/"):]}: {msg}'
                 for name, (level, msg) in sorted(statuses.items()) if level]
        print('diagnostics_agg: ' + ('; '.join(worst) if worst else 'all OK') + '\n',
              flush=True)


def main():
    duration = float(os.environ.get('DEMO_DURATION', '0'))
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    ros = RosSystem()
    try:
        print(f'demo: private roscore at {ros.start().master_uri}')
        os.environ['ROS_MASTER_URI'] = ros.master_uri
        launch = ros.spawn(['roslaunch', 'rostrace', 'demo.launch'], 'demo_launch')
        print('demo: roslaunch rostrace demo.launch (scenario nodes, rostrace_monitor, '
              'diagnostic_aggregator); stages show mean/p99, * = dominant; Ctrl-C ends.')
        ros.wait_node('/rostrace_monitor', proc=launch)
        live_view(duration)
        return 0
    except KeyboardInterrupt:
        return 0
    except RuntimeError as err:
        print(f'demo: error: {err}', file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        ros.shutdown()
        print('demo: stopped everything it started')


if __name__ == '__main__':
    sys.exit(main())
