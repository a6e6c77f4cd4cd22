"""actionlib goals followed through the action's own topics. [pure]

A process's action role per namespace comes from which side of its topics it is on:
the server receives `goal` and `cancel` and sends `status`, `feedback` and `result`; a
client the other way round. Each message's first bytes (copied by the kernel,
probes/bpf/actions.c) give its goal id (and state); per goal:

  accept            goal -> the first status that lists it ACTIVE or PREEMPTING
  first_feedback    goal -> its first feedback
  feedback_interval between two of its feedbacks
  result            goal -> its result (whose state is the outcome)

The goal's start is its arrival at the server (push) on the server side, its hand-off
to roscpp (publish) on the client side; the other ends are the server's publishes or
the client's arrivals. The server side names each goal's client from the goal id that
actionlib makes of the client's node name (`/node-count-sec.nsec`, C++ and rospy).
Everything here is untrusted bytes: lengths are checked, strings cut, goals bounded.
"""
import struct
from dataclasses import dataclass, field
from typing import NamedTuple

from .histogram import Accumulator

KINDS = ('goal', 'cancel', 'status', 'feedback', 'result')
STAGES = ('accept', 'first_feedback', 'feedback_interval', 'result')
# actionlib_msgs/GoalStatus
PENDING, ACTIVE, PREEMPTED, SUCCEEDED, ABORTED, REJECTED, PREEMPTING, RECALLING, RECALLED, \
    LOST = range(10)
ACCEPTED_STATES = (ACTIVE, PREEMPTING)
OUTCOMES = {PREEMPTED: 'preempted', SUCCEEDED: 'succeeded', ABORTED: 'aborted',
            REJECTED: 'rejected', RECALLED: 'recalled'}
OUTCOME_NAMES = ('succeeded', 'preempted', 'aborted', 'rejected', 'recalled', 'other')
# Which side of which topic makes a process the server (else it is a client).
SERVER_SIDES = {('goal', 'received'), ('cancel', 'received'), ('status', 'sent'),
                ('feedback', 'sent'), ('result', 'sent')}
# The type of each topic of an action (when the master says).
TYPE_OK = {'goal': lambda t: t.endswith('ActionGoal'),
           'cancel': lambda t: t == 'actionlib_msgs/GoalID',
           'status': lambda t: t == 'actionlib_msgs/GoalStatusArray',
           'feedback': lambda t: t.endswith('ActionFeedback'),
           'result': lambda t: t.endswith('ActionResult')}
ID_MAX = 512                # bytes of a goal id kept
GOALS_MAX = 4096            # goals followed per (process, action, role)
GOAL_MAX_AGE_NS = 3600 * 10**9      # a goal without result is forgotten after this
# A goal's result can be pushed before its last feedback (they come over two
# connections): a finished goal still takes feedback for this long.
DONE_GRACE_NS = 10**9
STATUS_MAX = 256            # entries read from one status array


def action_topic(topic, topic_type=None):
    """(namespace, kind) when `topic` is one of an action's topics, else None; a known
    type must fit the kind."""
    ns, _, kind = topic.rpartition('/')
    if kind not in KINDS or not ns:
        return None
    if topic_type is not None and not TYPE_OK[kind](topic_type):
        return None
    return ns, kind


class _Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, n):
        if n < 0 or self.pos + n > len(self.data):
            raise ValueError('cut')
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def u8(self):
        return self.take(1)[0]

    def u32(self):
        return struct.unpack('<I', self.take(4))[0]

    def string(self):
        n = self.u32()
        return self.take(n)[:ID_MAX].decode('utf-8', 'replace')

    def header(self):
        self.take(12)               # seq, stamp
        self.string()               # frame_id

    def goal_id(self):
        self.take(8)                # stamp
        return self.string()


def parse(kind, data):
    """[(goal id, state or None)] of one message's first bytes ([] when too short)."""
    r = _Reader(bytes(data))
    try:
        if kind == 'cancel':
            return [(r.goal_id(), None)]
        r.header()
        if kind == 'goal':
            return [(r.goal_id(), None)]
        if kind in ('feedback', 'result'):
            return [(r.goal_id(), r.u8())]
        out = []
        for _ in range(min(r.u32(), STATUS_MAX)):   # status: as many as were copied
            goal = r.goal_id()
            state = r.u8()
            out.append((goal, state))
            r.string()              # text
    except ValueError:
        return out if kind == 'status' else []
    return out


def client_of(goal_id):
    """The client node actionlib put into a goal id ('/node-3-12.5' -> '/node'), or ''."""
    parts = goal_id.rsplit('-', 2)
    return parts[0] if len(parts) == 3 and parts[0].startswith('/') else ''


class ActionKey(NamedTuple):
    pid: int
    action: str             # namespace, e.g. /move_base
    role: str               # 'server' or 'client'
    peer: str               # server side: the client node; client side: ''


@dataclass
class ActionNumbers:
    """One action of one process, as server (per client) or as client, over a window."""
    goals: int = 0              # goals sent (client) / received (server)
    accepted: int = 0
    cancels: int = 0            # cancel requests sent / received
    active: int = 0             # goals accepted and without result at the window's end
    outcomes: dict = field(default_factory=dict)   # OUTCOME_NAMES -> results
    stages: dict = field(default_factory=dict)     # STAGES -> Accumulator

    def merge(self, other):
        self.goals += other.goals
        self.accepted += other.accepted
        self.cancels += other.cancels
        self.active = other.active          # a gauge: the later window's
        for name, n in other.outcomes.items():
            self.outcomes[name] = self.outcomes.get(name, 0) + n
        for name, acc in other.stages.items():
            self.stages.setdefault(name, Accumulator()).merge(acc)
        return self


@dataclass
class _Goal:
    start: int              # ns
    peer: str
    accepted: bool = False
    last_feedback: int = 0
    done: int = 0           # when its result came (ns), 0 while it has none


class GoalTracker:
    """Goals per (process, action, role), fed with the parsed messages in time order;
    take() returns the window's ActionNumbers."""

    def __init__(self):
        self._goals = {}        # (pid, action, role) -> {goal id: _Goal}
        self._numbers = {}      # ActionKey -> ActionNumbers, this window
        self._known = set()     # (pid, action, role) seen
        self._latest = 0        # the latest time fed (ns)

    def forget(self, pid):
        self._goals = {k: v for k, v in self._goals.items() if k[0] != pid}
        self._known = {k for k in self._known if k[0] != pid}

    def feed(self, pid, action, kind, side, t, entries):
        role = 'server' if (kind, side) in SERVER_SIDES else 'client'
        self._latest = max(self._latest, t)
        goals = self._goals.setdefault((pid, action, role), {})
        self._known.add((pid, action, role))
        for goal_id, state in entries:
            if kind == 'goal':
                if goal_id in goals or len(goals) >= GOALS_MAX:
                    continue
                peer = client_of(goal_id) if role == 'server' else ''
                goals[goal_id] = _Goal(start=t, peer=peer)
                self._at(pid, action, role, peer).goals += 1
                continue
            if kind == 'cancel':        # (an id nobody sent counts under no client)
                self._at(pid, action, role, goals[goal_id].peer if goal_id in goals
                         else '').cancels += 1
                continue
            goal = goals.get(goal_id)
            if goal is None or (goal.done and kind != 'feedback'):
                continue            # sent before tracing began, someone else's, finished
            numbers = self._at(pid, action, role, goal.peer)
            if kind == 'status' or (kind == 'feedback' and state in ACCEPTED_STATES):
                if not goal.accepted and state in ACCEPTED_STATES:
                    goal.accepted = True
                    numbers.accepted += 1
                    self._sample(numbers, 'accept', t - goal.start)
            if kind == 'feedback':
                if goal.last_feedback:
                    self._sample(numbers, 'feedback_interval', t - goal.last_feedback)
                else:
                    self._sample(numbers, 'first_feedback', t - goal.start)
                goal.last_feedback = t
            elif kind == 'result':
                self._sample(numbers, 'result', t - goal.start)
                outcome = OUTCOMES.get(state, 'other')
                numbers.outcomes[outcome] = numbers.outcomes.get(outcome, 0) + 1
                goal.done = t

    def take(self):
        """{ActionKey: ActionNumbers} since the previous take (`active` as of now)."""
        for (pid, action, role), goals in self._goals.items():
            for goal_id in [g for g, goal in goals.items()
                            if goal.start < self._latest - GOAL_MAX_AGE_NS
                            or goal.done and goal.done < self._latest - DONE_GRACE_NS]:
                del goals[goal_id]
            active = {}
            for goal in goals.values():
                if goal.accepted and not goal.done:
                    active[goal.peer] = active.get(goal.peer, 0) + 1
            for peer, n in active.items():
                self._at(pid, action, role, peer).active = n
        out, self._numbers = self._numbers, {}
        return out

    def _at(self, pid, action, role, peer):
        return self._numbers.setdefault(ActionKey(pid, action, role, peer), ActionNumbers())

    @staticmethod
    def _sample(numbers, stage, ns):
        numbers.stages.setdefault(stage, Accumulator()).add_value(ns)
