"""The monitor node: follows the ROS graph, attaches to configured roscpp nodes,
publishes LatencyBreakdown and /diagnostics every period, even when nothing arrives."""
import collections
import fnmatch
import os
import socket
import time

from . import diagnostics as diag
from .breakdown import merge_numbers
from .config import ConfigError, load_config
from .errors import MasterUnreachable, NodeNotFound, ProcessGone, RostraceError, UnsupportedNode
from .targets import resolve_node

GRAPH_PERIOD_S = 0.25      # how often the master is asked who is running
PUBLISHERS_PERIOD_S = 1.0  # how often the publishers of traced topics are looked up


class Monitor:
    """Pure-ish core of the monitor: no rospy; `publish(breakdowns, statuses)` is given."""

    def __init__(self, config, *, tracer, master, publish, config_path=None, own_name='',
                 log=print):
        self.config = config
        self.config_path = config_path
        self._config_mtime = self._mtime()
        self.tracer = tracer
        self.master = master
        self.publish_fn = publish
        self.own_name = own_name
        self.log = log
        self.host = socket.gethostname()
        self.attached = {}            # node -> TargetProcess
        self.problems = {}            # node or pattern -> reason it is not traced
        self.errors = []              # monitor-level problems of the last period
        self._publishers_due = 0.0    # when to look up the publishers of traced topics next
        self.history = collections.deque()

    # -- configuration ------------------------------------------------------------------
    def _mtime(self):
        try:
            return os.stat(self.config_path).st_mtime_ns if self.config_path else None
        except OSError:
            return None

    def reload_if_changed(self, overrides=None):
        mtime = self._mtime()
        if mtime == self._config_mtime:
            return False
        self._config_mtime = mtime
        try:
            self.config = load_config(self.config_path, overrides=overrides)
        except ConfigError as e:
            self.errors.append(f'config not reloaded: {e}')
            self.log(f'rostrace_monitor: config not reloaded, keeping the previous one: {e}')
            return False
        self.log(f'rostrace_monitor: reloaded {self.config_path}')
        return True

    def spec_for(self, node):
        for spec in self.config.targets:
            if fnmatch.fnmatchcase(node, spec.node):
                return spec
        return None

    # -- graph ----------------------------------------------------------------------------
    def follow_graph(self):
        """Attach to configured nodes that appeared or restarted, detach the gone."""
        try:
            running = set(self.master.nodes())
        except MasterUnreachable as e:
            self.errors.append(str(e))
            return
        wanted = {}
        for spec in self.config.targets:
            if spec.is_pattern:
                for node in fnmatch.filter(sorted(running), spec.node):
                    if node != self.own_name:
                        wanted.setdefault(node, spec)
            else:
                wanted.setdefault(spec.node, spec)
        attached_before = len(self.attached)
        for node, target in list(self.attached.items()):
            if node not in wanted or not self.tracer.procfs.alive(target.pid):
                self._detach(node, 'not running')
        for node, spec in wanted.items():
            if node in self.attached:
                continue
            if node not in running:
                self.problems[node] = 'not running'
                continue
            self._attach(node, spec)
        now = time.monotonic()
        if len(self.attached) == attached_before and now < self._publishers_due:
            return
        self._publishers_due = now + PUBLISHERS_PERIOD_S
        before = dict(self.tracer.publishers)
        self.tracer.follow_publishers(self.master)
        for pid, target in self.tracer.publishers.items():
            if pid not in before:
                self.log(f'rostrace_monitor: publisher side attached to {target.node} '
                         f'(pid {pid})')

    def _attach(self, node, spec):
        try:
            target = resolve_node(node, master=self.master, procfs=self.tracer.procfs)
            self.tracer.attach_target(target, audit=spec.critical)
        except (NodeNotFound, ProcessGone):
            self.problems[node] = 'not running'
            return
        except UnsupportedNode as e:
            self.problems[node] = str(e) if not spec.is_pattern else None
            return
        except RostraceError as e:
            self.problems[node] = f'cannot trace: {e}'
            return
        self.attached[node] = target
        self.problems.pop(node, None)
        self.log(f'rostrace_monitor: attached to {node} (pid {target.pid})')

    def _detach(self, node, reason):
        target = self.attached.pop(node)
        self.tracer.detach(target.pid)
        self.problems[node] = reason
        self.log(f'rostrace_monitor: detached from {node} (pid {target.pid}): {reason}')

    def detach_all(self):
        for node in list(self.attached):
            self._detach(node, 'monitor stopped')

    # -- windows --------------------------------------------------------------------------
    def window(self):
        """Collect one period; breakdowns over the configured window."""
        window_s, per_topic = self.tracer.collect()
        self.history.append((window_s, per_topic))
        covered = 0.0
        kept = collections.deque()
        for w, numbers in reversed(self.history):
            if kept and covered + w > self.config.window_s * 1.001:
                break
            kept.appendleft((w, numbers))
            covered += w
        self.history = kept
        merged = {}
        for _, numbers in kept:
            for key, values in numbers.items():
                merge_numbers(merged.setdefault(key, {}), values)
        return self.tracer.build(merged, covered)

    def statuses(self, breakdowns, *, stopped=False):
        out = []
        for b in breakdowns:
            spec = self.spec_for(b.node)
            if spec is None or (spec.topics and b.topic not in spec.topics):
                continue
            out.append(diag.topic_status(b, spec.thresholds))
        for node, target in self.attached.items():
            spec = self.spec_for(node)
            subscribed = set(self.tracer.subscribed(target.pid))
            for topic in (spec.topics if spec else ()):
                if topic not in subscribed:
                    out.append(diag.Status(name=diag.status_name(node, topic),
                                           hardware_id=self.host, level=diag.WARN,
                                           message=f'{node} does not subscribe to {topic}'))
        for node, reason in sorted(self.problems.items()):
            if reason and node not in self.attached:
                out.append(diag.not_running_status(node, self.host, reason))
        for spec in self.config.targets:
            if spec.is_pattern and not any(fnmatch.fnmatchcase(n, spec.node)
                                           for n in list(self.attached) + list(self.problems)):
                out.append(diag.not_running_status(spec.node, self.host,
                                                   'not running: no node matches'))
        out.append(diag.monitor_status(
            host=self.host, attached=[(n, t.pid) for n, t in self.attached.items()],
            configured=len(self.config.targets), probe_cost_us=self.tracer.probe_cost_us,
            errors=self.errors, stopped=stopped,
            publishers=[(t.node, t.pid) for t in self.tracer.publishers.values()],
            lost_events=self.tracer.transport.lost))
        return out

    def wanted_breakdowns(self, breakdowns):
        out = []
        for b in breakdowns:
            spec = self.spec_for(b.node)
            if spec is not None and (not spec.topics or b.topic in spec.topics):
                out.append(b)
        return out

    def publish(self):
        breakdowns = self.wanted_breakdowns(self.window())
        self.publish_fn(breakdowns, self.statuses(breakdowns))
        self.errors = []

    def publish_stopped(self):
        self.publish_fn([], self.statuses([], stopped=True))

    def _guarded(self, step):
        """A target vanishing mid-step must not end the monitor: report it instead."""
        try:
            step()
        except (RostraceError, OSError) as e:
            self.errors.append(f'{step.__name__}: {e}')
            self.log(f'rostrace_monitor: {step.__name__} failed: {e}')

    def run(self, should_stop, *, overrides=None, clock=time.monotonic, sleep=time.sleep):
        """Follow the graph and publish until should_stop() is true."""
        next_graph = next_publish = clock()
        while not should_stop():
            now = clock()
            if now >= next_graph:
                self.reload_if_changed(overrides)
                self._guarded(self.follow_graph)
                next_graph = now + GRAPH_PERIOD_S
            if now >= next_publish:
                self._guarded(self.publish)
                next_publish += 1.0 / self.config.publish_rate
                if next_publish < now:
                    next_publish = now + 1.0 / self.config.publish_rate
            sleep(min(0.05, max(0.0, min(next_graph, next_publish) - clock())))
