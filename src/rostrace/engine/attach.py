"""Which processes carry which probes: traced subscribers (receive path, optionally
the real-time audit) and the publishers that feed their topics (publish side)."""
import time

from ..errors import MasterUnreachable, ProcessGone, RostraceError, UnsupportedNode
from ..model.backoff import Backoff
from ..probes import abi
from ..probes.tables import PUBLISHERS
from ..system import targets
from ..system.symbols import PUBLISH_POINTS, RECEIVE_POINTS


EXIT_WAIT_S = 0.5


class Attachments:
    """Attaches and detaches processes in one BpfProgram; knows who is attached.

    A failed attach leaves nothing of that process attached. A process can be both a
    subscriber and a publisher (a nodelet manager, a relay): it is detached once
    neither role remains.
    """

    def __init__(self, program, procfs, names):
        self.program = program
        self.procfs = procfs
        self.names = names              # ObjectNames: forgets a detached process
        self.subscribers = {}           # pid -> TargetProcess with the receive probes
        self.publishers = {}            # pid -> TargetProcess with the publish probes
        self.kept_publishers = set()    # pids whose publish side stays (actions) while traced
        self.audited = set()            # pids under the real-time audit
        self.publisher_notes = {}       # publisher node -> why it is not traced
        self.publisher_backoff = Backoff(time.monotonic)
        self.topic_publishers = {}      # topic -> its publisher nodes (the master's last word)
        self.topic_types = {}           # topic -> its type (the master's last word)
        self.on_forget = []             # callables(pid) run when a process is detached
        self.on_subscriber = []         # callables() run when a subscriber is attached
        self.remote = None              # RemoteLinks: what monitors on other hosts trace/want
        self.rospy = None               # RospySubscribers: rospy subscribers' sockets

    def target(self, pid):
        return self.subscribers.get(pid) or self.publishers.get(pid)

    def node_name(self, pid):
        target = self.target(pid)
        return target.node if target else f'pid:{pid}'

    # -- subscribers --------------------------------------------------------------------
    def attach_subscriber(self, target, *, audit=False):
        """The receive-path probes; `audit` adds the real-time audit (malloc and
        syscalls inside callbacks; costs a probe hit per malloc). A rospy node gets
        no probe: its sockets' reads are framed (engine/rospy.py)."""
        if target.client == 'rospy':
            return self._attach_rospy(target, audit=audit)
        if not target.probe_points:
            raise RostraceError(f'no probe point found in {target.library}',
                                hint='; '.join(target.missing.values()))
        self._attach_probes(target, RECEIVE_POINTS)
        self.subscribers[target.pid] = target
        if audit:
            try:
                self.program.audit(target.pid, *targets.find_malloc(self.procfs, target.pid))
            except BaseException:
                self.detach(target.pid)
                raise
            self.audited.add(target.pid)
        self.names.reported('queue', target, refresh=True)
        for added in self.on_subscriber:
            added()
        return target

    def _attach_rospy(self, target, *, audit):
        if audit:
            raise UnsupportedNode(f'{target.node} is a rospy node: the real-time audit '
                                  'is for roscpp callbacks', hint='trace it without audit')
        if self.rospy is None or not self.alive(target):
            raise ProcessGone(target.pid, f'{target.node}: process {target.pid} exited or '
                              'was replaced before attaching')
        self.subscribers[target.pid] = target
        self.rospy.attached(target)
        self.names.reported('queue', target, refresh=True)
        for added in self.on_subscriber:
            added()
        return target

    def subscribed(self, pid):
        """Topics subscriber `pid` reported, sorted."""
        target = self.subscribers.get(pid)
        return sorted(self.names.reported('queue', target)) if target else []

    # -- publishers ---------------------------------------------------------------------
    def attach_publisher(self, target, *, keep=False):
        """The publish-side probes; `keep`: they stay while the process is traced, also
        when no traced subscriber needs its topics."""
        if target.client == 'rospy':
            self._attach_rospy_publisher(target)
        else:
            self._attach_roscpp_publisher(target)
        self.publishers[target.pid] = target
        self.publisher_notes.pop(target.node, None)
        if keep:
            self.kept_publishers.add(target.pid)

    def _attach_rospy_publisher(self, target):
        """No probe: its sends on the connections to traced subscribers are recognised
        by their length prefix (publisher.c rospy_sent)."""
        if not self.alive(target):
            raise ProcessGone(target.pid, f'{target.node}: process {target.pid} exited or '
                              'was replaced before attaching')
        self.program.tables.add_flag(PUBLISHERS, target.pid, abi.TGID_TRACED | abi.TGID_ROSPY)

    def _attach_roscpp_publisher(self, target):
        missing = PUBLISH_POINTS - set(target.probe_points)
        if missing:
            raise RostraceError(f'{target.node}: no publish probe point '
                                f'({", ".join(sorted(missing))}) in {target.library}')
        self._attach_probes(target, PUBLISH_POINTS)

    def follow_publishers(self, master, *, deadline=None, resolve=None):
        """Attach the publisher side to every process on this host that publishes a
        topic a subscriber reported; detach the gone and those no longer needed.
        Publishers elsewhere get a note, not a number, and are tried again with backoff;
        no new publisher is tried after `deadline` (time.monotonic()). Publishers that
        monitors on other hosts want (their subscribers' publishers) are traced too when
        they run here; a publisher another monitor traces has no note. `resolve(node)`:
        a TargetProcess, or None while it is not known yet (targets.Resolver.get);
        resolve_node by default."""
        if resolve is None:
            def resolve(node):
                return targets.resolve_node(node, master=master, procfs=self.procfs)
        for pid in [p for p, t in self.publishers.items() if not self.alive(t)]:
            self._detach_publisher(pid)
        wanted = {t for pid in self.subscribers for t in self.subscribed(pid)}
        for_peers = self.remote.wanted_by_peers() if self.remote is not None else frozenset()
        needed = set()
        if wanted:
            try:
                publishers = master.topic_publishers(wanted)
                self.topic_types = master.topic_types()
            except MasterUnreachable:
                return
            self.topic_publishers = {t: frozenset(publishers.get(t, ())) for t in wanted}
            needed = {n for names in publishers.values() for n in names}
        elsewhere = self.remote.traced_elsewhere() if self.remote is not None else frozenset()
        for pid, target in list(self.publishers.items()):
            if target.node not in needed | for_peers and pid not in self.kept_publishers:
                self._detach_publisher(pid)
        self.publisher_notes = {n: why for n, why in self.publisher_notes.items()
                                if n in needed and n not in elsewhere}
        self.publisher_backoff.keep(needed | for_peers)
        traced = {t.node for t in self.publishers.values()}
        for node in sorted((needed | for_peers) - traced):
            if deadline is not None and time.monotonic() >= deadline:
                break
            if not self.publisher_backoff.due(node):
                continue
            try:
                target = resolve(node)
                if target is None:
                    continue
                self.attach_publisher(target)
            except RostraceError as e:
                if node in needed and node not in elsewhere:
                    self.publisher_notes[node] = str(e)[:300]
                self.publisher_backoff.failed(node)
            else:
                self.publisher_backoff.succeeded(node)

    def wanted_elsewhere(self):
        """Publishers our subscribers need that are not traced here (other hosts')."""
        traced = {t.node for t in self.publishers.values()}
        needed = {n for names in self.topic_publishers.values() for n in names}
        return frozenset(needed - traced)

    def matchable(self, topic):
        """False when the master says no publisher of `topic` is traced (its messages
        cannot be matched to a sender); True otherwise, also when it is not known."""
        nodes = self.topic_publishers.get(topic)
        if nodes is None:
            return True
        traced = {t.node for t in self.publishers.values()}
        if self.remote is not None:
            traced |= self.remote.traced_elsewhere()
        return bool(nodes & traced)

    def _detach_publisher(self, pid):
        if self.publishers.pop(pid, None) is not None and pid not in self.subscribers:
            self.program.detach(pid)     # a subscriber's publish probes go with detach()
            self._forget(pid)

    # -- both -------------------------------------------------------------------------
    def alive(self, target):
        return targets.same_process(self.procfs, target)

    def _attach_probes(self, target, points):
        """Attach only to the process that was resolved: its identity (PID and start
        time) is checked right before and right after, so a PID reused meanwhile
        (the node restarted) gets no probe."""
        if not self.alive(target):
            raise ProcessGone(target.pid, f'{target.node}: process {target.pid} exited or '
                              'was replaced before attaching')
        call_site = (targets.runtime_range(self.procfs, target, 'queue_call')
                     if 'queue_call' in points else None)
        self.program.attach(target, points=points, call_site=call_site)
        if not self.alive(target):
            if target.pid not in self.subscribers and target.pid not in self.publishers:
                self.program.detach(target.pid)
            raise ProcessGone(target.pid, f'{target.node}: process {target.pid} exited or '
                              'was replaced while attaching')

    def detach(self, pid):
        """Every probe of process `pid`, and what was known about it."""
        self.detach_many([pid])

    def detach_many(self, pids):
        """detach() of several processes at once (their probes go in parallel).

        A process caught in the middle of exiting is given EXIT_WAIT_S to finish: the
        kernel cannot take a breakpoint out of memory being torn down and then logs
        'uprobe: ... failed to unregister, leaking uprobe' (the uprobe's few hundred
        bytes stay allocated until reboot; the exiting process is not harmed)."""
        deadline = time.monotonic() + EXIT_WAIT_S
        while any(self.procfs.exiting(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.01)
        self.program.detach_many(pids)
        for pid in pids:
            self.subscribers.pop(pid, None)
            self.publishers.pop(pid, None)
            self.kept_publishers.discard(pid)
            self.audited.discard(pid)
            self._forget(pid)

    def _forget(self, pid):
        self.names.forget(pid)
        for forget in self.on_forget:
            forget(pid)

    def close(self):
        self.program.close()
        self.subscribers.clear()
        self.publishers.clear()
