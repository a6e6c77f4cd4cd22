"""Capture a per-message trace to look at: Chrome trace-event JSON for Perfetto UI.

Traces the given nodes (default: every roscpp node the master lists on this host) for
--duration seconds and writes every processed message (queued, deserialize, callback),
publish, timer firing and service request as spans per thread, with flow arrows from a
publish to the callbacks of that message in other processes. Open the file in
https://ui.perfetto.dev or chrome://tracing. Memory is bounded by --max-spans (spans
beyond it are counted, not kept).
"""
import json
import os
import signal
import time

from ..engine import Tracer
from ..errors import RostraceError
from ..model.names import absolute
from ..model.numbers import ServiceKey
from ..output.chrome_trace import trace_events
from ..system import preflight
from ..system.rosapi import Master
from .trace import attach_nodes, say

EPILOG = '''examples:
  rostrace capture --duration 5 -o trace.json
  rostrace capture --node /camera_driver --node /detector --duration 10 -o trace.json'''


def add_arguments(p):
    p.add_argument('--node', action='append', default=[], metavar='N',
                   help='trace this node (repeatable); default: every roscpp node here')
    p.add_argument('--duration', type=float, default=5.0, metavar='S',
                   help='seconds to capture (default 5)')
    p.add_argument('-o', '--output', default='trace.json', help='file (default trace.json)')
    p.add_argument('--max-spans', type=int, default=500000, metavar='N',
                   help='keep at most N spans (about 200 bytes each; default 500000)')


class Names:
    """What the spans' numbers are called, from the tracer (cached)."""

    def __init__(self, tracer):
        self.tracer = tracer
        self._cache = {}

    def _once(self, key, make):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def node(self, pid):
        return self.tracer.attachments.node_name(pid)

    def thread(self, pid, tid):
        def comm():
            try:
                with open(f'/proc/{pid}/task/{tid}/comm') as f:
                    return f'{f.read().strip()[:32]} ({tid})'
            except OSError:
                return str(tid)
        return self._once(('thread', pid, tid), comm)

    def topic(self, pid, queue):
        target = self.tracer.attachments.subscribers.get(pid)
        return self._once(('queue', pid, queue), lambda: (
            target and self.tracer.names.topic('queue', target, queue)) or f'queue@{queue:x}')

    def published(self, pid, publication):
        target = self.tracer.attachments.target(pid)
        return self._once(('pub', pid, publication), lambda: (
            target and self.tracer.names.topic('publication', target, publication))
            or f'publication@{publication:x}')

    def timer(self, pid, info):
        return self._once(('timer', pid, info), lambda: self.tracer.timers.describe(pid, info)[0])

    def service(self, pid, publication):
        return self.tracer.services.name(ServiceKey(pid, publication, 'server'))


def run(args):
    if args.duration <= 0 or args.max_spans <= 0:
        raise RostraceError('--duration and --max-spans must be > 0')
    out_dir = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(out_dir):
        raise RostraceError(f'{args.output}: no such directory {out_dir}')
    preflight.check_all('rostrace capture')
    master = Master()
    nodes = [absolute(n) for n in args.node] or master.nodes()
    say('Compiling the BPF program and calibrating the probe cost (a few seconds)...')
    tracer = Tracer()
    try:
        attach_nodes(tracer, master, nodes, quiet=not args.node)
        capture = tracer.probes.capture(args.max_spans)
        say(f'Capturing {len(tracer.targets)} node(s) for {args.duration:g} s...')
        end = time.monotonic() + args.duration
        try:
            while time.monotonic() < end:
                time.sleep(min(0.5, max(0.0, end - time.monotonic())))
                tracer.collect()                    # also reads the spans' ring buffer
                tracer.follow_publishers(master)
        except KeyboardInterrupt:
            pass
        capture.stop()
        events = trace_events(capture.spans, Names(tracer))
        lost = tracer.collector.lost.get('spans', 0)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        tracer.close()
    with open(args.output, 'w') as f:
        json.dump({'traceEvents': events, 'displayTimeUnit': 'ms',
                   'otherData': {'tool': 'rostrace capture', 'spans': len(capture.spans),
                                 'dropped_spans': capture.dropped + lost}}, f)
    say(f'capture: {len(capture.spans)} spans ({capture.dropped + lost} dropped) -> '
        f'{args.output} (open it in https://ui.perfetto.dev)')
    return 0
