"""Trace the receive path of one roscpp node: per-topic latency breakdown.

Shows a live view refreshed every interval (or one JSON object per interval with
--json); Ctrl-C or --duration ends with a summary over the whole run.
"""
import argparse
import json
import math
import os
import signal
import sys
import time

from ..engine import Tracer
from ..errors import EXIT_USAGE, MasterUnreachable, NodeNotFound, RostraceError
from ..model.names import absolute
from ..model.numbers import TopicKey, Window
from ..probes.program import BPF_DIR, program_text
from ..system import preflight
from ..system.rosapi import Master
from ..system.symbols import RECEIVE_POINTS
from ..views.render import (action_lines, histogram, service_lines, tf_lines, timer_lines,
                             topic_block)

EPILOG = '''examples:
  rostrace trace --node /processing_delay_node --topic /slow_topic
  rostrace trace --node /camera_driver --wait --hist --duration 30
  rostrace trace --node /listener --interval 5 --duration 60 --json
  rostrace trace --pid 4242 --json            (no master needed)'''

CLEAR = '\033[H\033[2J'


def add_arguments(p):
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument('--node', help='ROS node name, resolved through the master')
    who.add_argument('--pid', type=int, help='process ID of a roscpp node (host PID)')
    p.add_argument('--topic', action='append', default=[], metavar='T',
                   help='only this subscribed topic (repeatable); default: all')
    p.add_argument('--interval', type=float, default=1.0, metavar='S',
                   help='seconds per refresh (default 1)')
    p.add_argument('--duration', type=float, default=0.0, metavar='S',
                   help='stop after S seconds (default: until Ctrl-C)')
    p.add_argument('--wait', action='store_true',
                   help='wait for the node (and the master) to come up instead of failing')
    p.add_argument('--hist', action='store_true',
                   help="show each stage's latency distribution")
    p.add_argument('--audit', action='store_true',
                   help='real-time audit: count malloc() and syscalls inside callbacks '
                   '(one extra probe hit per malloc anywhere in the node)')
    p.add_argument('--budget', type=_budget, metavar='PERCENT',
                   help="overhead budget in percent of one core: rostrace steps down to "
                   "cheaper probes while its estimated cost on the node exceeds it")
    p.add_argument('--json', action='store_true',
                   help='one JSON object per interval on stdout (no live view)')
    p.add_argument('--ebpf', action='store_true', help=argparse.SUPPRESS)


def _budget(text):
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.01 <= value <= 100:
        raise argparse.ArgumentTypeError(f'{text!r}: expected a percent of one core, '
                                         '0.01 to 100 (e.g. --budget 2)')
    return value


def say(text):
    print(text, file=sys.stderr, flush=True)


def attach_nodes(tracer, master, nodes, *, quiet=False, say_attached=False,
                 none_traced='no node could be traced',
                 hint='give roscpp nodes on this host with --node'):
    """Attach `tracer` to each of `nodes` (a failure is said unless `quiet`), then to the
    publishers of their topics; RostraceError when none could be traced."""
    for node in nodes:
        try:
            tracer.attach_node(node, master=master)
        except RostraceError as e:
            if not quiet:
                say(f'rostrace: {node} not traced: {e}')
        else:
            if say_attached:
                say(f'Tracing {node}')
    if not tracer.targets:
        raise RostraceError(none_traced, hint=hint)
    tracer.follow_publishers(master)


def report_json(tracer, target, breakdowns, timers=(), services=(), tf=(), actions=()):
    return json.dumps({
        'time': time.time(), 'window_s': round(tracer.last_window_s, 6),
        'node': target.node, 'pid': target.pid, 'host': target.host,
        'probe_cost_us': round(tracer.probe_cost_us, 3),
        'topics': [b.as_dict() for b in breakdowns if b.pid == target.pid],
        'timers': [t.as_dict() for t in timers if t.pid == target.pid],
        'services': [s.as_dict() for s in services if s.pid == target.pid],
        'tf': [t.as_dict() for t in tf if t.pid == target.pid],
        'actions': [a.as_dict() for a in actions if a.pid == target.pid]})


def view(breakdowns, *, totals=None, hist=False, color=False, heading='', timers=(),
         services=(), tf=(), actions=()):
    """The live view (or the summary): one block per topic, histograms (of the `totals`
    Window) with --hist, then the process's timers."""
    lines = [heading] if heading else []
    for b in breakdowns:
        lines += topic_block(b, color=color)
        numbers = totals.topics.get(TopicKey(b.pid, b.topic, b.nodelet)) if totals else None
        if hist and numbers is not None:
            for stage in ('queuing', 'deserialization', 'processing'):
                acc = numbers.stages.get(stage)
                if acc is not None and acc.count:
                    lines.append(f'  {stage} distribution:')
                    lines += histogram(acc.buckets)
        lines.append('')
    if not breakdowns:
        lines.append('(no subscribed topic seen yet)')
    if timers:
        lines += timer_lines(timers)
    if services:
        lines += service_lines(services)
    if tf:
        lines += tf_lines(tf)
    if actions:
        lines += action_lines(actions)
    return '\n'.join(lines)


def wait_for_node(master, node):
    """Resolve `node` through the master, waiting (and saying for what) until it is up."""
    told = None
    while True:
        try:
            return master.lookup_node(node)
        except (NodeNotFound, MasterUnreachable) as e:
            what = (f'the ROS master at {master.uri}' if isinstance(e, MasterUnreachable)
                    else f'{node} to register with the master at {master.uri}')
            if what != told:
                say(f'Waiting for {what}... (Ctrl-C to give up)')
                told = what
            time.sleep(0.5)


def run(args):
    if args.interval <= 0:
        say('rostrace: error: --interval must be > 0 seconds')
        return EXIT_USAGE
    if args.ebpf:
        with open(os.path.join(BPF_DIR, 'rostrace.h')) as f:
            sys.stdout.write(f.read())
        sys.stdout.write(program_text())
        return 0
    preflight.check_all('rostrace ' + ' '.join(sys.argv[1:]))
    topics = [absolute(t) for t in args.topic]
    master = None if args.pid else Master()
    if master:
        args.node = absolute(args.node)
        if args.wait:
            wait_for_node(master, args.node)
        else:
            try:
                master.lookup_node(args.node)
            except NodeNotFound as e:
                e.hint += '\n  (use --wait to wait for it to start)'
                raise
    say('Compiling the BPF program and calibrating the probe cost (a few seconds)...')
    tracer = Tracer()
    try:
        say(f'Attaching to {args.node or "pid " + str(args.pid)}...')
        target = (tracer.attach_pid(args.pid, audit=args.audit) if args.pid
                  else tracer.attach_node(args.node, master=master, audit=args.audit))
        if args.budget is not None:
            tracer.set_budget(target.pid, args.budget)
        subscribed = tracer.subscribed(target.pid)
        unknown = [t for t in topics if t not in subscribed]
        if unknown and subscribed:
            raise RostraceError(
                f"node {target.node} does not subscribe to {' '.join(unknown)}",
                hint='subscribed topics: ' + ' '.join(subscribed))
        if target.client == 'rospy':
            say(f'Tracing {target.node} (pid {target.pid}), a rospy node: its sockets '
                'from the syscall and scheduler tracepoints, no probe in the process '
                '(queuing = the wait in the socket; processing = deserialization + '
                'callbacks)... Hit Ctrl-C to end.')
        else:
            for name, reason in target.missing.items():
                say(f'rostrace: warning: probe point {name} unavailable: {reason}')
            receive = [p for p in target.probe_points if p in RECEIVE_POINTS]
            say(f'Tracing {2 * len(receive)} probes in {target.node} (pid '
                f'{target.pid}), probe cost {tracer.probe_cost_us:.1f} us per '
                'entry+return... Hit Ctrl-C to end.')
        for node, why in sorted(tracer.publisher_notes.items()):
            say(f'rostrace: publisher {node} not traced: {why}')
        if master is None:
            say('rostrace: note: with --pid there is no master to find the publishers: '
                'no publisher side, transport or end-to-end (use --node for those)')
        if tracer.publisher_targets:
            say('Publisher side: ' + ', '.join(
                f'{t.node} (pid {t.pid})' for t in tracer.publisher_targets.values()))
        return _loop(tracer, target, topics, args, master)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)     # a second Ctrl-C during detach
        tracer.close()


def _loop(tracer, target, topics, args, master=None):
    start = time.monotonic()    # the first window began when the probes were attached
    totals = Window(window_s=0.0)
    live = sys.stdout.isatty() and not args.json

    def window():
        this = tracer.collect()
        if master is not None:
            tracer.follow_publishers(master)    # publishers that came (or went) since
        totals.merge(this)
        breakdowns, timers = tracer.build(this, topics=topics), tracer.build_timers(this)
        services, tf = tracer.build_services(this), tracer.build_tf(this)
        actions = tracer.build_actions(this)
        if args.json:
            print(report_json(tracer, target, breakdowns, timers, services, tf, actions),
                  flush=True)
        else:
            heading = (f'{target.node} (pid {target.pid}) on {target.host}: last '
                       f'{this.window_s:.1f} s, mean/p50/p99/max, * = dominant stage')
            print((CLEAR if live else '') + view(breakdowns, totals=totals, hist=args.hist,
                                                 color=live, heading=heading, timers=timers,
                                                 services=services, tf=tf,
                                                 actions=actions),
                  flush=True)

    ended = 0
    try:
        while True:
            remaining = args.duration - (time.monotonic() - start) if args.duration else None
            time.sleep(min(args.interval, remaining) if remaining is not None
                       else args.interval)
            window()
            if not tracer.alive(target):
                say(f'rostrace: target {target.node} (pid {target.pid}) exited')
                ended = 1
                break
            if args.duration and time.monotonic() - start >= args.duration - 1e-3:
                break
    except KeyboardInterrupt:
        window()                                        # the partial last window
    if not args.json:
        elapsed = time.monotonic() - start
        totals.window_s = elapsed
        summary = tracer.build(totals, topics=topics)
        print(view(summary, totals=totals, hist=args.hist, color=live,
                   heading=f'Summary of {elapsed:.1f} s in {target.node} (pid {target.pid})',
                   timers=tracer.build_timers(totals),
                   services=tracer.build_services(totals), tf=tracer.build_tf(totals),
                   actions=tracer.build_actions(totals)),
              flush=True)
    return ended
