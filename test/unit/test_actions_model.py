"""actionlib goals from the bytes of the actions' messages: parsing (untrusted, cut
copies), the per-goal stages and outcomes, per-client attribution, the action status."""
import struct

from rostrace.model.actions import (ACTIVE, PENDING, PREEMPTED, SUCCEEDED, ActionKey,
                                    GoalTracker, action_topic, client_of, parse)
from rostrace.model.breakdown import build_action
from rostrace.views import diagnostics as diag
from rostrace.views.render import action_lines

MS = 1_000_000


def string(text):
    raw = text.encode()
    return struct.pack('<I', len(raw)) + raw


def header():
    return struct.pack('<III', 7, 1, 2) + string('frame')


def goal_id(gid):
    return struct.pack('<II', 1, 2) + string(gid)


def goal_msg(gid):
    return header() + goal_id(gid) + struct.pack('<i', 42)


def feedback_msg(gid, state=ACTIVE):
    return header() + goal_id(gid) + bytes([state]) + string('') + struct.pack('<i', 1)


def status_msg(*entries):
    body = b''.join(goal_id(g) + bytes([s]) + string('text') for g, s in entries)
    return header() + struct.pack('<I', len(entries)) + body


def test_action_topics_by_name_and_type():
    assert action_topic('/move_base/goal', 'move_base_msgs/MoveBaseActionGoal') == (
        '/move_base', 'goal')
    assert action_topic('/move_base/status') == ('/move_base', 'status')
    assert action_topic('/move_base/result', 'std_msgs/String') is None   # not an action's
    assert action_topic('/result') is None and action_topic('/a/scan') is None


def test_parse_reads_ids_and_states_and_survives_cut_or_hostile_bytes():
    gid = '/client-1-12.5'
    assert parse('goal', goal_msg(gid)) == [(gid, None)]
    assert parse('feedback', feedback_msg(gid)) == [(gid, ACTIVE)]
    assert parse('cancel', goal_id('')) == [('', None)]
    full = status_msg(('/c-1-1.0', SUCCEEDED), ('/c-2-1.0', ACTIVE))
    assert parse('status', full) == [('/c-1-1.0', SUCCEEDED), ('/c-2-1.0', ACTIVE)]
    assert parse('status', full[:-12]) == [('/c-1-1.0', SUCCEEDED)]     # cut copy: what is whole
    assert parse('goal', goal_msg(gid)[:20]) == []
    assert parse('status', header() + struct.pack('<I', 2**32 - 1)) == []
    huge = header() + struct.pack('<II', 1, 2) + struct.pack('<I', 2**31) + b'x' * 10
    assert parse('goal', huge) == []
    assert client_of('/ns/client-12-1700000000.25') == '/ns/client'
    assert client_of('not-a-node') == '' and client_of('') == ''


def test_tracker_stages_outcomes_and_late_feedback_per_client():
    t = GoalTracker()
    a, b = '/cli-1-1.0', '/other-1-1.0'
    feed = t.feed
    feed(9, '/work', 'goal', 'received', 0, [(a, None)])
    feed(9, '/work', 'goal', 'received', 1 * MS, [(b, None)])
    feed(9, '/work', 'status', 'sent', 50 * MS, [(a, ACTIVE), (b, PENDING)])
    feed(9, '/work', 'feedback', 'sent', 70 * MS, [(a, ACTIVE)])
    feed(9, '/work', 'result', 'sent', 100 * MS, [(a, SUCCEEDED)])
    feed(9, '/work', 'feedback', 'sent', 90 * MS, [(a, ACTIVE)])   # after its result, in order
    feed(9, '/work', 'cancel', 'received', 95 * MS, [(b, None)])
    feed(9, '/work', 'result', 'sent', 120 * MS, [('/unknown-1-1.0', SUCCEEDED)])
    out = t.take()
    cli = out[ActionKey(9, '/work', 'server', '/cli')]
    other = out[ActionKey(9, '/work', 'server', '/other')]
    assert (cli.goals, cli.accepted, cli.outcomes, cli.active) == (1, 1, {'succeeded': 1}, 0)
    assert cli.stages['accept'].sum_ns == 50 * MS and cli.stages['result'].sum_ns == 100 * MS
    assert cli.stages['first_feedback'].sum_ns == 70 * MS
    assert cli.stages['feedback_interval'].sum_ns == 20 * MS
    assert (other.goals, other.accepted, other.cancels) == (1, 0, 1)
    feed(9, '/work', 'status', 'sent', 200 * MS, [(b, ACTIVE)])
    out = t.take()
    assert out[ActionKey(9, '/work', 'server', '/other')].active == 1
    feed(9, '/work', 'result', 'sent', 300 * MS, [(b, PREEMPTED)])
    (numbers,) = t.take().values()
    ab = build_action(node='/srv', pid=9, host='h', action='/work', role='server',
                      peer='/other', window_s=1.0, numbers=numbers)
    assert ab.outcomes['preempted'] == 1 and ab.active == 0
    status = diag.action_status(ab, {})
    assert status.name == 'rostrace: /srv action /work (server from /other)'
    assert status.level == diag.OK
    assert 'result' in '\n'.join(action_lines([ab]))


def test_client_side_is_the_other_direction_and_goals_are_bounded():
    t = GoalTracker()
    t.feed(3, '/work', 'goal', 'sent', 0, [('/me-1-1.0', None)])
    t.feed(3, '/work', 'status', 'received', 40 * MS, [('/me-1-1.0', ACTIVE)])
    (key,) = t.take()
    assert key == ActionKey(3, '/work', 'client', '')
    for i in range(5000):
        t.feed(3, '/work', 'goal', 'sent', i, [(f'/me-{i + 2}-1.0', None)])
    assert t.take()[key].goals == 4095        # GOALS_MAX followed at once
