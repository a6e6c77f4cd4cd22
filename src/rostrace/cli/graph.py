"""The dataflow graph as rostrace infers it: nodes -> topics -> nodes, with latency.

Traces the given nodes (default: every node the master lists that runs on this host and
uses roscpp) for --duration seconds and prints one line per edge (publisher --topic-->
subscriber: rate, transport, end-to-end) and, per node, which input's callbacks
published which output (or sampled it, from a timer). --dot writes Graphviz DOT,
--svg draws it (Debian's graphviz), --json prints it as one object.
"""
import json
import signal
import time

from ..engine import Tracer
from ..errors import RostraceError
from ..model.graph import dot, from_window, text
from ..model.names import absolute
from ..model.numbers import Window
from ..output.graphviz import svg
from ..system import preflight
from ..system.rosapi import Master
from .trace import attach_nodes, say

EPILOG = '''examples:
  rostrace graph --duration 10
  rostrace graph --node /camera_driver --node /detector --svg graph.svg'''


def add_arguments(p):
    p.add_argument('--node', action='append', default=[], metavar='N',
                   help='trace this node (repeatable); default: every roscpp node here')
    p.add_argument('--duration', type=float, default=5.0, metavar='S',
                   help='seconds to watch (default 5)')
    p.add_argument('--dot', metavar='FILE', help='write the graph as Graphviz DOT')
    p.add_argument('--svg', metavar='FILE', help='draw the graph (needs graphviz)')
    p.add_argument('--json', action='store_true', help='print the graph as JSON')


def run(args):
    if args.duration <= 0:
        raise RostraceError('--duration must be > 0 seconds')
    preflight.check_all('rostrace graph')
    master = Master()
    nodes = [absolute(n) for n in args.node] or master.nodes()
    say('Compiling the BPF program and calibrating the probe cost (a few seconds)...')
    tracer = Tracer()
    try:
        attach_nodes(tracer, master, nodes, quiet=not args.node)
        say(f'Watching {len(tracer.targets)} node(s) for {args.duration:g} s...')
        totals = Window(window_s=0.0)
        end = time.monotonic() + args.duration
        try:
            while time.monotonic() < end:
                time.sleep(min(1.0, max(0.0, end - time.monotonic())))
                totals.merge(tracer.collect())
                tracer.follow_publishers(master)
        except KeyboardInterrupt:
            pass
        graph = from_window(totals, tracer.attachments.node_name)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        tracer.close()
    if args.json:
        print(json.dumps(graph.as_dict()))
    else:
        print('\n'.join(text(graph)))
    drawing = dot(graph)
    if args.dot:
        with open(args.dot, 'w') as f:
            f.write(drawing)
    if args.svg:
        image = svg(drawing)
        if image is None:
            raise RostraceError('cannot draw the graph: Graphviz `dot` is missing or failed',
                                hint='apt-get install graphviz, or use --dot FILE')
        with open(args.svg, 'w') as f:
            f.write(image)
    return 0
