"""End-to-end latency of a path: from a source topic to a destination topic, per message.

Every roscpp node on this host on a route from the source to the destination (as the
master's graph says) is traced; the kernel follows each message through the callbacks
that published the next one (no configuration). The path ends at the end of the
callback of the destination topic. One line per interval (or one JSON object with
--json); Ctrl-C or --duration ends with the whole run (in JSON: "summary": true).
"""
import json
import signal
import time

from ..engine import Tracer
from ..errors import RostraceError
from ..model.names import absolute
from ..model.numbers import Window
from ..model.paths import HOP_STAGES, build_paths, route_nodes
from ..system import preflight
from ..system.rosapi import Master
from .trace import attach_nodes, say

EPILOG = '''examples:
  rostrace path --from /camera/image_raw --to /detections
  rostrace path --from /scan --to /cmd_vel --duration 30 --json'''


def add_arguments(p):
    p.add_argument('--from', dest='source', required=True, metavar='TOPIC',
                   help='the source topic (its messages start the path when published)')
    p.add_argument('--to', dest='destination', required=True, metavar='TOPIC',
                   help='the destination topic (the path ends when its callback ends)')
    p.add_argument('--interval', type=float, default=1.0, metavar='S',
                   help='seconds per line (default 1)')
    p.add_argument('--duration', type=float, default=0.0, metavar='S',
                   help='stop after S seconds (default: until Ctrl-C)')
    p.add_argument('--json', action='store_true', help='one JSON object per interval')


def path_line(path):
    s = path.stages['end_to_end']
    head = f'{path.name}'
    if path.node:
        head += f' (ends in {path.node})'
    if not s.available or not s.count:
        return f'{head}: {path.note or "no message followed"}'
    ms = 1e3
    lines = [f'{head}: {path.count} messages  end-to-end mean {s.mean * ms:.3f}  p50 '
             f'{s.p50 * ms:.3f}  p99 {s.p99 * ms:.3f}  max {s.max * ms:.3f} ms']
    worst = path.worst_hop
    for i, hop in enumerate(path.hops, 1):
        cells = '  '.join(f'{name} {hop.stages[name].mean * ms:.3f}'
                          for name in HOP_STAGES
                          if name in hop.stages and hop.stages[name].available
                          and hop.stages[name].count)
        mark = '  <- worst hop' if hop is worst and hop.latency else ''
        lines.append(f'  {i}. {hop.topic} {hop.publisher} -> {hop.node}: {cells}  '
                     f'(= {hop.latency * ms:.3f} ms){mark}')
    return '\n'.join(lines)


def run(args):
    preflight.check_all('rostrace path')
    source, destination = absolute(args.source), absolute(args.destination)
    master = Master()
    nodes = route_nodes(*master.topic_graph(), source, destination)
    if not nodes:
        raise RostraceError(f'no route from {source} to {destination} in the ROS graph',
                            hint='check the topic names (rostopic info) and that the '
                                 'nodes between them run')
    say('Compiling the BPF program and calibrating the probe cost (a few seconds)...')
    tracer = Tracer()
    try:
        attach_nodes(tracer, master, nodes, say_attached=True,
                     none_traced=f'no node between {source} and {destination} could be '
                                 'traced', hint=None)
        say('Hit Ctrl-C to end.')
        return _loop(tracer, master, source, destination, args)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        tracer.close()


def _loop(tracer, master, source, destination, args):
    start = time.monotonic()
    totals = Window(window_s=0.0)
    wanted = [(source, destination)]

    def show(window, **extra):
        for path in build_paths(window, tracer.attachments.node_name, wanted=wanted):
            print(json.dumps({**path.as_dict(), **extra}) if args.json else path_line(path),
                  flush=True)

    def window():
        this = tracer.collect()
        tracer.follow_publishers(master)
        totals.merge(this)
        show(this)
    try:
        while True:
            remaining = args.duration - (time.monotonic() - start) if args.duration else None
            time.sleep(min(args.interval, remaining) if remaining is not None
                       else args.interval)
            window()
            if args.duration and time.monotonic() - start >= args.duration - 1e-3:
                break
    except KeyboardInterrupt:
        window()
    totals.window_s = time.monotonic() - start
    if not args.json:
        print(f'Summary of {totals.window_s:.1f} s:')
    show(totals, summary=True)      # JSON: the whole run, marked "summary": true
    return 0
