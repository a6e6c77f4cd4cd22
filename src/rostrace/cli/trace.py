"""Trace the receive path of one roscpp node: per-topic latency breakdown.

Prints one line (or one JSON object with --json) per topic and interval.
"""
import json
import os
import signal
import sys
import time

from ..errors import EXIT_USAGE, NotPrivileged, RostraceError
from ..render import table
from ..targets import Master

EPILOG = '''examples:
  rostrace trace --node /processing_delay_node --topic /slow_topic
  rostrace trace --node /listener --interval 5 --duration 60 --json
  rostrace trace --pid 4242 --json            (no master needed)'''


def add_arguments(p):
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument('--node', help='ROS node name, resolved through the master')
    who.add_argument('--pid', type=int, help='process ID of a roscpp node (host PID)')
    p.add_argument('--topic', action='append', default=[], metavar='T',
                   help='only this subscribed topic (repeatable); default: all')
    p.add_argument('--interval', type=float, default=1.0, metavar='S',
                   help='seconds per report (default 1)')
    p.add_argument('--duration', type=float, default=0.0, metavar='S',
                   help='stop after S seconds (default: until Ctrl-C)')
    p.add_argument('--json', action='store_true',
                   help='one JSON object per interval on stdout')
    p.add_argument('--ebpf', action='store_true', help=__import__('argparse').SUPPRESS)


def check_privileges():
    if os.geteuid() != 0:
        raise NotPrivileged('attaching uprobes needs root (CAP_BPF and CAP_PERFMON)',
                            hint='try: sudo -E rostrace ' + ' '.join(sys.argv[1:])
                            + '   (-E keeps ROS_MASTER_URI)')


def _normalize(topic):
    return topic if topic.startswith('/') else '/' + topic


def report_json(tracer, target, breakdowns):
    return json.dumps({
        'time': time.time(), 'window_s': round(tracer.last_window_s, 6),
        'node': target.node, 'pid': target.pid, 'host': target.host,
        'probe_cost_us': round(tracer.probe_cost_us, 3),
        'topics': [b.as_dict() for b in breakdowns if b.pid == target.pid]})


def report_text(breakdowns):
    return '\n'.join(table(breakdowns)) + '\n'


def run(args):
    if args.interval <= 0:
        print('rostrace: error: --interval must be > 0 seconds', file=sys.stderr)
        return EXIT_USAGE
    if args.ebpf:
        from ..probes.receive import BPF_DIR
        for name in ('rostrace.h', 'receive.c'):
            with open(os.path.join(BPF_DIR, name)) as f:
                sys.stdout.write(f.read())
        return 0
    check_privileges()
    topics = [_normalize(t) for t in args.topic]
    master = None if args.pid else Master()
    if master:
        master.lookup_node(args.node if args.node.startswith('/') else '/' + args.node)
    from ..engine import Tracer
    print('Compiling BPF program and calibrating probe cost...', file=sys.stderr)
    tracer = Tracer()
    try:
        target = (tracer.attach_pid(args.pid) if args.pid
                  else tracer.attach_node(args.node, master=master))
        unknown = [t for t in topics if t not in tracer.subscribed(target.pid)]
        if unknown and tracer.subscribed(target.pid):
            raise RostraceError(
                f"node {target.node} does not subscribe to {' '.join(unknown)}",
                hint='subscribed topics: ' + ' '.join(tracer.subscribed(target.pid)))
        for name, reason in target.missing.items():
            print(f'rostrace: warning: probe point {name} unavailable: {reason}',
                  file=sys.stderr)
        probes = 2 * len(target.probe_points)
        print(f'Tracing {probes} probes in {target.node} (pid {target.pid}), probe cost '
              f'{tracer.probe_cost_us:.1f} us per entry+return... Hit Ctrl-C to end.',
              file=sys.stderr)
        return _loop(tracer, target, topics, args)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)     # a second Ctrl-C during detach
        tracer.close()


def _report(tracer, target, topics, args):
    breakdowns = tracer.snapshot(topics=topics)
    print(report_json(tracer, target, breakdowns) if args.json
          else report_text(breakdowns), flush=True)


def _loop(tracer, target, topics, args):
    start = time.monotonic()    # the first window began when the probes were attached
    while True:
        remaining = args.duration - (time.monotonic() - start) if args.duration else None
        try:
            time.sleep(min(args.interval, remaining) if remaining is not None
                       else args.interval)
        except KeyboardInterrupt:
            _report(tracer, target, topics, args)      # the partial last window
            return 0
        _report(tracer, target, topics, args)
        if not tracer.procfs.alive(target.pid):
            print(f'rostrace: target {target.node} (pid {target.pid}) exited',
                  file=sys.stderr)
            return 1
        if args.duration and time.monotonic() - start >= args.duration - 1e-3:
            return 0
