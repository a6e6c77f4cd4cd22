"""The monitor: follows the ROS graph, attaches to configured roscpp nodes, publishes
breakdowns and statuses every period, even when nothing arrives. No rospy here:
`publish(breakdowns, statuses)` is given (monitor/ros_node.py wires it to ROS)."""
import os
import time
from typing import NamedTuple

from ..errors import MasterUnreachable, NodeNotFound, ProcessGone, RostraceError, UnsupportedNode
from ..model.backoff import Backoff
from ..model.config import ConfigError, TargetSpec, load_config
from ..model.history import WindowHistory
from ..model.pacing import Pacing
from ..model.paths import build_paths, route_nodes
from ..views import diagnostics as diag
from ..system.host import host_name
from ..system.memory import CycleCollector, trim_heap
from ..system.targets import Resolver
from ..views.statuses import MonitorState, monitor_statuses

GRAPH_PERIOD_S = 0.25      # how often the master is asked who is running, at most ...
GRAPH_SHARE = 0.01         # ... and at most this share of the time in getSystemState (a
GRAPH_PERIOD_MAX_S = 5.0   # thousand topics: ~50 ms a call) ... and at least this often
STATE_MAX_AGE_S = 0.2      # one getSystemState answers every question of one graph step
PUBLISHERS_PERIOD_S = 1.0  # how often the publishers of traced topics are looked up
# A graph step starts no new target after this long (the rest wait for the next step),
# so following a large or slow graph delays a publishing period by at most this plus one
# attach and one call to the master (system/rosapi.py); nodes are asked on other threads.
GRAPH_BUDGET_S = 0.5
PERIOD_GROWTH = 1.25       # a publishing period is at most this much longer than the last


class Period(NamedTuple):
    """One publishing period's breakdowns, by kind."""
    topics: tuple = ()
    timers: tuple = ()
    services: tuple = ()
    paths: tuple = ()
    tf: tuple = ()
    actions: tuple = ()
    ended: float = None     # wall clock (s) at the window's end: the messages' stamp


class ConfigWatcher:
    """Notices edits of the monitor's config file (by modification time)."""

    def __init__(self, path, log=print):
        self.path = path
        self.log = log
        self._mtime = self._read_mtime()

    def _read_mtime(self):
        try:
            return os.stat(self.path).st_mtime_ns if self.path else None
        except OSError:
            return None

    def poll(self, overrides=None):
        """(new config, None) when the file changed since the last call; (None, the
        ConfigError) when the changed file is broken (read again after the next edit);
        (None, None) when nothing changed."""
        mtime = self._read_mtime()
        if mtime == self._mtime:
            return None, None
        self._mtime = mtime
        try:
            config = load_config(self.path, overrides=overrides)
        except ConfigError as e:
            error = e
        except Exception as e:      # only ConfigError by contract; never end a running monitor
            error = ConfigError(self.path, '', f'{type(e).__name__}: {str(e)[:200]}')
        else:
            self.log(f'rostrace_monitor: reloaded {self.path}')
            return config, None
        self.log(f'rostrace_monitor: config not reloaded, keeping the previous one: {error}')
        return None, error


class Monitor:
    """Configuration reload, graph following and the publishing loop."""

    def __init__(self, config, *, tracer, master, publish, config_path=None, own_name='',
                 log=print, on_window=None):
        self.config = config
        self.watcher = ConfigWatcher(config_path, log)
        self.tracer = tracer
        self.master = master
        self.publish_fn = publish
        self.on_window = on_window    # callable(Window, model.metrics.Names) per period
        self.own_name = own_name
        self.log = log
        self.host = host_name()
        self.attached = {}            # node -> TargetProcess
        self.problems = {}            # node or pattern -> reason it is not traced
        self.errors = []              # monitor-level problems of the last period
        self._publishers_due = 0.0    # when to look up the publishers of traced topics next
        self.history = WindowHistory()
        self.pacing = Pacing()        # the publishing period within monitor_cpu_percent
        self._period = None           # seconds of the current publishing period
        self.routes = {}              # path name -> nodes on its route (the master's graph)
        self.route_only = set()       # nodes traced only because a path runs through them
        self.backoff = Backoff(time.monotonic)    # targets that answered nonsense or failed
        self.resolver = Resolver(master=master, procfs=tracer.procfs)   # off this thread

    # -- configuration ------------------------------------------------------------------
    def reload_if_changed(self, overrides=None):
        """Take a changed config file; a broken edit is reported, the old config stays."""
        config, error = self.watcher.poll(overrides)
        if error:
            self.errors.append(f'config not reloaded: {error}')
        self.config = config or self.config

    # -- graph ----------------------------------------------------------------------------
    def follow_graph(self):
        """Attach to configured nodes that appeared or restarted, detach the gone."""
        try:
            running = set(self.master.nodes())
        except MasterUnreachable as e:
            self.errors.append(str(e))
            return
        deadline = time.monotonic() + GRAPH_BUDGET_S
        wanted = self.config.wanted(running, exclude=self.own_name)
        self.routes = self._routes(running)
        self.route_only = {n for nodes in self.routes.values() for n in nodes} - set(wanted)
        for node in sorted(self.route_only):
            wanted[node] = TargetSpec(node=node)
        self.backoff.keep(wanted)
        attached_before = len(self.attached)
        for node, target in list(self.attached.items()):
            if node not in wanted or not self.tracer.alive(target):
                self._detach(node, 'not running')
        # Nodes a pattern matched that left are no longer anybody's concern.
        self.problems = {n: why for n, why in self.problems.items() if n in wanted}
        for node, spec in wanted.items():
            if node in self.attached:
                continue
            if node not in running:
                self.problems[node] = 'not running'
            elif self.backoff.due(node) and time.monotonic() < deadline:
                self._attach(node, spec)
        self._follow_publishers(changed=len(self.attached) != attached_before,
                                deadline=deadline)

    def _routes(self, running):
        """{path name: nodes on a route from its source to its destination}."""
        if not self.config.paths:
            return {}
        try:
            publishers, subscribers = self.master.topic_graph()
        except MasterUnreachable:
            return self.routes
        return {p.name: [n for n in route_nodes(publishers, subscribers, p.source,
                                                p.destination)
                         if n in running and n != self.own_name]
                for p in self.config.paths}

    def graph_period(self):
        """Seconds to the next graph step: GRAPH_PERIOD_S, longer when the master's
        answer is so large that reading it would take more than GRAPH_SHARE."""
        spent = self.master.state_call_s
        return min(max(GRAPH_PERIOD_S, spent / GRAPH_SHARE), GRAPH_PERIOD_MAX_S)

    def _follow_publishers(self, *, changed, deadline):
        """Look the publishers of traced topics up once a period, or at once when the
        traced nodes changed."""
        now = time.monotonic()
        if not changed and now < self._publishers_due:
            return
        self._publishers_due = now + PUBLISHERS_PERIOD_S
        before = dict(self.tracer.publisher_targets)
        self.tracer.follow_publishers(
            self.master, deadline=deadline,
            resolve=lambda node: self.resolver.get(node, 'publisher'))
        for pid, target in self.tracer.publisher_targets.items():
            if pid not in before:
                self.log(f'rostrace_monitor: publisher side attached to {target.node} '
                         f'(pid {pid})')

    def _attach(self, node, spec):
        try:
            target = self.resolver.get(node)
            if target is None:
                return                                  # asked; attached when known
            self.tracer.attach_target(target, audit=spec.critical)
            if spec.budget is not None:
                self.tracer.set_budget(target.pid, spec.budget)
        except (NodeNotFound, ProcessGone):
            self.problems[node] = 'not running'     # retried at once: a restart is quick
            return
        except UnsupportedNode as e:
            self.problems[node] = str(e) if not spec.is_pattern else None
            self.backoff.failed(node)
            return
        except Exception as e:      # BadPeer, any RostraceError -- and, as a last line,
            why = e if isinstance(e, RostraceError) else f'{type(e).__name__}: {e}'  # bugs
            self.problems[node] = f'cannot trace: {why}'[:500]
            self.backoff.failed(node)
            return
        self.backoff.succeeded(node)
        self.attached[node] = target
        self.problems.pop(node, None)
        self.log(f'rostrace_monitor: attached to {node} (pid {target.pid})')

    def _detach(self, node, reason):
        self._detach_nodes([node], reason)

    def detach_all(self):
        """Every probe at once: 100 targets stop in about a second (probes/program.py)."""
        self._detach_nodes(list(self.attached), 'monitor stopped',
                           also=list(self.tracer.publisher_targets))

    def _detach_nodes(self, nodes, reason, *, also=()):
        """Detach these targets (and the processes `also`) in one go."""
        gone = [(node, self.attached.pop(node)) for node in nodes]
        self.tracer.detach_many([t.pid for _, t in gone] + list(also))
        for node, target in gone:
            self.problems[node] = reason
            self.log(f'rostrace_monitor: detached from {node} (pid {target.pid}): {reason}')

    # -- windows --------------------------------------------------------------------------
    def window(self):
        """Collect one period; topic, timer, service, path, tf2 and action breakdowns over
        the configured window."""
        window = self.tracer.collect()
        ended = time.time()
        if self.on_window is not None:
            self.on_window(window, self.tracer.metric_names())
        merged = self.history.add(window, window_s=self.config.window_s)
        return Period(topics=self.tracer.build(merged), timers=self.tracer.build_timers(merged),
                      services=self.tracer.build_services(merged), paths=self.paths(merged),
                      tf=self.tracer.build_tf(merged),
                      actions=self.tracer.build_actions(merged), ended=ended)

    def _node_of(self, pid):
        target = self.tracer.attachments.subscribers.get(pid)
        return target.node if target is not None else None

    def paths(self, window):
        """PathBreakdowns of the configured paths (one per final node; a path that ends
        in several nodes is named after each)."""
        specs = self.config.paths
        if not specs:
            return []
        out = build_paths(window, self.tracer.attachments.node_name,
                          wanted=[(p.source, p.destination) for p in specs],
                          names={(p.source, p.destination): p.name for p in specs})
        counts = {}
        for p in out:
            counts[p.name] = counts.get(p.name, 0) + 1
        for p in out:
            p.host = self.host
            p.spec_name = p.name
            if counts[p.name] > 1:
                p.name = f'{p.name} ({p.node})'
        return out

    def path_statuses(self, paths):
        budgets = {p.name: p.budget for p in self.config.paths}
        out = []
        for path in paths:
            untraced = [(n, self.problems[n]) for n in self.routes.get(path.spec_name, ())
                        if self.problems.get(n)]
            out.append(diag.path_status(path, budgets.get(path.spec_name), self.host,
                                        untraced))
        return out

    def state(self):
        """What the statuses are computed from (plain values)."""
        return MonitorState(
            host=self.host, errors=list(self.errors),
            problems={n: why for n, why in self.problems.items() if n not in self.route_only},
            attached={node: (t.pid, set(self.tracer.subscribed(t.pid)))
                      for node, t in self.attached.items()},
            publishers=[(t.node, t.pid) for t in self.tracer.publisher_targets.values()],
            probe_cost_us=self.tracer.probe_cost_us, lost=dict(self.tracer.collector.lost),
            lost_recent=dict(self.tracer.collector.lost_recent),
            pacing=(self.publish_period(), 1.0 / self.config.publish_rate,
                    self.pacing.share * 100, self.config.monitor_cpu_percent),
            **self._peers())

    def _targets(self):
        return set(self.attached), set(self.tracer.publisher_targets)

    def publish_period(self):
        """Seconds between the last two publishing periods (model/pacing.py)."""
        return self._period or 1.0 / self.config.publish_rate

    def _next_period(self, published):
        """The pacing's period, grown by at most PERIOD_GROWTH a period, and the configured
        one after targets came or went (`published`: those of the last period): how full
        a longer window fills the kernel's maps is known only from the window before."""
        configured = 1.0 / self.config.publish_rate
        period = self.pacing.period(configured, self.config.monitor_cpu_percent)
        if self._targets() != published:
            period = configured
        else:
            period = min(period, max(configured, self.publish_period() * PERIOD_GROWTH))
        self._period = period
        return period

    def _peers(self):
        remote = self.tracer.collector.remote
        if remote is None:
            return {}
        offsets = remote.offsets()
        return {'peers': {h: offsets.get(h) for h in remote.peer_hosts() | set(offsets)},
                'peer_refused': remote.refused}

    def statuses(self, period, *, stopped=False):
        return monitor_statuses(self.config, period.topics, self.state(), stopped=stopped,
                                timers=period.timers, services=period.services,
                                paths=self.path_statuses(period.paths), tf=period.tf,
                                actions=period.actions)

    def publish(self):
        got = self.window()
        configured = self.config.spec_for
        period = Period(
            topics=[b for b in got.topics if self.config.wants(b.node, b.topic)],
            timers=[t for t in got.timers if configured(t.node) is not None],
            services=[s for s in got.services if configured(s.node) is not None],
            paths=got.paths, tf=[t for t in got.tf if configured(t.node) is not None],
            actions=[a for a in got.actions if configured(a.node) is not None])
        self.publish_fn(period.topics, self.statuses(period), period.timers, period.services,
                        paths=period.paths, tf=period.tf, actions=period.actions,
                        ended=got.ended)
        self.errors = []

    def publish_stopped(self):
        self.publish_fn([], self.statuses(Period(), stopped=True), [], [])

    def _guarded(self, step):
        """Nothing a target or peer does mid-step may end the monitor: report it."""
        try:
            step()
        except Exception as e:
            why = e if isinstance(e, RostraceError) else f'{type(e).__name__}: {e}'
            self.errors.append(f'{step.__name__}: {why}'[:500])
            self.log(f'rostrace_monitor: {step.__name__} failed: {why}')

    def run(self, should_stop, *, overrides=None, clock=time.monotonic, sleep=time.sleep,
            cpu=time.process_time):
        """Follow the graph and publish until should_stop() is true (less often than
        publish_rate where that would cost more than monitor_cpu_percent)."""
        next_graph = next_publish = clock()
        last_cpu, last_at = cpu(), clock()
        once = 0.0          # CPU of graph steps that attached or detached (not steady)
        published = None    # the targets at the last period
        cycles = CycleCollector(clock=clock)
        cycles.start()
        try:
            while not should_stop():
                now = clock()
                if now >= next_graph:
                    self.reload_if_changed(overrides)
                    began, targets = cpu(), self._targets()
                    self._guarded(self.follow_graph)
                    if self._targets() != targets:
                        once += cpu() - began
                    next_graph = now + self.graph_period()
                if now >= next_publish:
                    before = cpu()
                    self._guarded(self.publish)
                    trim_heap()
                    after, at = cpu(), clock()
                    self.pacing.record(after - before, after - last_cpu - once, at - last_at)
                    once = 0.0
                    lost = self.tracer.collector.lost_recent
                    self.pacing.kernel_maps(self.tracer.collector.program.tables.fullest,
                                            lost.get('hist') or lost.get('stats'),
                                            at - last_at, 1.0 / self.config.publish_rate)
                    last_cpu, last_at = after, at
                    period = self._next_period(published)
                    published = self._targets()
                    next_publish += period
                    if next_publish < now:
                        next_publish = now + period
                cycles.tick()
                sleep(min(0.05, max(0.0, min(next_graph, next_publish) - clock())))
        finally:
            cycles.stop()
            self.resolver.close()
