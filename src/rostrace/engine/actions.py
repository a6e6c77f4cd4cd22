"""actionlib in the traced processes, observed on the actions' own topics (no uprobe
of its own; model/actions.py follows the goals, probes/bpf/actions.c copies the bytes).

A traced process whose topics include an action's (`<ns>/goal`, `cancel`, `status`,
`feedback`, `result`, of the right types when the master says) is flagged TGID_ACTIONS
and gets the publish-side probes (it sends half of those messages). The kernel then
copies the first messages of each of its queues and publications; here each object is
named once (its topic, from the process's memory, checked against what the node
reports) and told to the kernel: the action topics' messages are copied from then on,
the other objects never again. Cost: for action topics one ring-buffer event per
message (up to ACTION_BYTES copied), for the rest of such a process one map lookup per
message.
"""
from ..errors import RostraceError
from ..model.actions import GoalTracker, action_topic, parse
from ..model.breakdown import build_action
from ..probes import abi

COPY = {'status': abi.ACTION_BYTES - 1}     # a status lists every goal it knows
COPY_DEFAULT = 256                          # header + goal id (+ state)
UNNAMED_WINDOWS = 10        # windows an object's topic may stay unknown before it is dropped


class Actions:
    def __init__(self, program, attachments, names):
        self.program = program
        self.attachments = attachments
        self.names = names
        self.tracker = GoalTracker()
        self.traced = {}            # pid -> action namespaces it has topics of
        self._objects = {}          # (pid, object) -> (namespace, kind) or None
        self._waiting = {}          # (pid, object) -> ([event], windows waited)

    def attached(self, target):
        """A traced subscriber: followed when it has topics of an action."""
        types = self.attachments.topic_types
        try:
            topics = set(self.names.reported('queue', target)) | set(
                self.names.reported('publication', target))
        except RostraceError as e:          # its slave API misbehaved: topics still traced
            target.missing['actions'] = f'actions not followed: {e}'
            return
        found = {}
        for topic in topics:
            hit = action_topic(topic, types.get(topic))
            if hit:
                found.setdefault(hit[0], set()).add(hit[1])
        # One topic named `result` is not an action: a namespace needs two of its topics.
        namespaces = {ns for ns, kinds in found.items() if len(kinds) >= 2}
        if not namespaces or target.pid in self.traced:
            return
        try:
            if target.pid not in self.attachments.publishers:
                self.attachments.attach_publisher(target, keep=True)
            else:
                self.attachments.kept_publishers.add(target.pid)
        except RostraceError as e:
            target.missing['actions'] = f'actions not followed: {e}'
            return
        self.traced[target.pid] = namespaces
        self.program.tables.set_flag(target.pid, abi.TGID_ACTIONS, True)

    def forget(self, pid):
        self.traced.pop(pid, None)
        self.tracker.forget(pid)
        self._objects = {k: v for k, v in self._objects.items() if k[0] != pid}
        self._waiting = {k: v for k, v in self._waiting.items() if k[0] != pid}

    def collect(self):
        """{ActionKey: ActionNumbers} of the messages since the previous call."""
        events = self.program.action_events() if self.traced else []
        retry, self._waiting = self._waiting, {}
        ready = []
        for key, (waiting, windows) in retry.items():
            hit = self._classify(*key, waiting[0].side)
            if hit is None and windows + 1 < UNNAMED_WINDOWS:
                self._waiting[key] = (waiting, windows + 1)
            elif hit:
                ready += waiting
        for ev in events:
            key = (ev.tgid, ev.object)
            if key in self._waiting:
                self._waiting[key][0].append(ev)
            elif key not in self._objects and self._classify(*key, ev.side) is None:
                self._waiting[key] = ([ev], 0)
            elif self._objects.get(key):
                ready.append(ev)
        for ev in sorted(ready, key=lambda e: e.t):
            action, kind = self._objects[ev.tgid, ev.object]
            side = 'received' if ev.side == abi.ACTION_RECEIVED else 'sent'
            self.tracker.feed(ev.tgid, action, kind, side, ev.t, parse(kind, ev.data))
        return self.tracker.take()

    def _classify(self, pid, obj, side):
        """(namespace, kind) of an object of a followed process (and told to the kernel),
        False when it is not an action topic, None when its topic cannot be told yet."""
        target = self.attachments.subscribers.get(pid)
        if target is None or pid not in self.traced:
            return False
        try:
            topic = self.names.topic('queue' if side == abi.ACTION_RECEIVED else 'publication',
                                     target, obj)
        except RostraceError:       # gone meanwhile
            topic = None
        if topic is None:
            return None
        hit = action_topic(topic, self.attachments.topic_types.get(topic))
        if hit and hit[0] not in self.traced[pid]:
            hit = None
        self._objects[pid, obj] = hit
        try:
            self.program.tables.set_action_object(
                pid, obj, COPY.get(hit[1], COPY_DEFAULT) if hit else 0)
        except (KeyError, OSError):
            pass                    # gone meanwhile
        return hit or False

    def build(self, window):
        """ActionBreakdowns of a Window's actions."""
        out = []
        for key, numbers in window.actions.items():
            target = self.attachments.subscribers.get(key.pid)
            if target is None:
                continue
            out.append(build_action(node=target.node, pid=key.pid, host=target.host,
                                    action=key.action, role=key.role, peer=key.peer,
                                    window_s=window.window_s, numbers=numbers))
        return sorted(out, key=lambda a: (a.pid, a.action, a.role, a.peer))
