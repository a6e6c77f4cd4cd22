"""Issue 17 (actionlib): per action server (per client) and per client: goal -> accepted,
goal -> first feedback, feedback interval, goal -> result, outcomes and active goals,
observed on the action's own topics. Real roscore, real roscpp actionlib nodes (ours,
with their own steady_clock truth) and a rospy client (actionlib's Python library),
real probes."""
import statistics
import subprocess
import sys

import pytest

from harness import wait_for
from tracing import assert_close, read_truth

from rostrace.model.numbers import Window
from rostrace.system.rosapi import Master

GOALS = 8
CANCEL = 3              # the goal the client cancels after its first feedback
ACCEPT_MS, FEEDBACK_MS, FEEDBACKS = 50, 20, 5


@pytest.fixture(scope='module')
def tracer():
    from rostrace.engine import Tracer
    t = Tracer()
    yield t
    t.close()


def mean_s(rows, end, start='start_ns'):
    return statistics.mean((r[end] - r[start]) * 1e-9 for r in rows if r[end])


def intervals_s(rows):
    """Mean interval between a goal's feedbacks (first to last over feedbacks - 1)."""
    spans = [(r['last_feedback_ns'] - r['first_feedback_ns'], r['feedbacks'] - 1)
             for r in rows if r['feedbacks'] > 1]
    return sum(s for s, _ in spans) * 1e-9 / sum(n for _, n in spans)


def test_server_and_client_match_truth(ros, tracer, tmp_path):
    srv_truth, cli_truth = str(tmp_path / 'server.csv'), str(tmp_path / 'client.csv')
    server = ros.node('actions', 'action_server', params={
        'role': 'server', 'action': '/work', 'accept_ms': ACCEPT_MS,
        'feedback_ms': FEEDBACK_MS, 'feedbacks': FEEDBACKS, 'truth_file': srv_truth})
    client = ros.node('actions', 'action_client', params={
        'role': 'client', 'action': '/work', 'goals': GOALS, 'cancel_goal': CANCEL,
        'start_delay': 5.0, 'truth_file': cli_truth})
    master = Master(ros.master_uri)
    targets = [tracer.attach_node(n, master=master) for n in ('/action_server', '/action_client')]
    try:
        assert not read_truth(cli_truth), 'goals began before attaching ended: raise start_delay'
        totals = Window(window_s=0.0)

        def done():
            totals.merge(tracer.collect())
            return sum(sum(n.outcomes.values()) for n in totals.actions.values()) >= 2 * GOALS
        wait_for(done, timeout=60, interval=0.5, what=f'{GOALS} results, both sides')
        wait_for(lambda: len(read_truth(srv_truth)) >= GOALS and len(read_truth(cli_truth)) >= GOALS,
                 timeout=10, what='the truth written')
        found = {(a.node, a.role): a for a in tracer.build_actions(totals)}
        srv, cli = found['/action_server', 'server'], found['/action_client', 'client']
        print(f'\nserver: {srv.as_dict()}\nclient: {cli.as_dict()}')
        srows, crows = read_truth(srv_truth), read_truth(cli_truth)
        # Feedback counts are the server's (a client's actionlib drops a feedback that
        # comes after the goal's result; the wire and rostrace do not).
        sent_intervals = sum(r['feedbacks'] - 1 for r in srows)
        for side, rows in ((srv, srows), (cli, crows)):
            assert side.action == '/work'
            assert (side.goals, side.accepted, side.active) == (GOALS, GOALS, 0)
            assert side.outcomes == {'succeeded': GOALS - 1, 'preempted': 1, 'aborted': 0,
                                     'rejected': 0, 'recalled': 0, 'other': 0}
            assert [r['outcome'] for r in rows].count('preempted') == 1
            assert side.stages['first_feedback'].count == GOALS
            assert side.stages['feedback_interval'].count == sent_intervals, side.role
        assert (srv.peer, srv.cancels, cli.cancels) == ('/action_client', 1, 1)
        for side, rows, who in ((srv, srows, 'server'), (cli, crows, 'client')):
            assert_close(side.stages['accept'].mean, mean_s(rows, 'active_ns'),
                         f'{who} goal -> accepted')
            assert_close(side.stages['first_feedback'].mean, mean_s(rows, 'first_feedback_ns'),
                         f'{who} goal -> first feedback')
            assert_close(side.stages['feedback_interval'].mean, intervals_s(rows),
                         f'{who} feedback interval')
            assert_close(side.stages['result'].mean, mean_s(rows, 'result_ns'),
                         f'{who} goal -> result')
        assert server.poll() is None and client.poll() is None
    finally:
        tracer.detach_many([t.pid for t in targets])


PY_CLIENT = """
import sys, rospy, actionlib
from actionlib.msg import TestAction, TestGoal
rospy.init_node('py_client')
client = actionlib.SimpleActionClient('/work', TestAction)
client.wait_for_server(rospy.Duration(20))
for i in range(int(sys.argv[1])):
    client.send_goal_and_wait(TestGoal(goal=i))
print('done')
"""


def test_python_client_counts_on_the_server_side(ros, tracer):
    """A rospy client (actionlib's SimpleActionClient) is a client of the traced server."""
    n = 4
    ros.node('actions', 'py_server', params={'role': 'server', 'action': '/work',
                                             'accept_ms': 10, 'feedback_ms': 10,
                                             'feedbacks': 2})
    target = tracer.attach_node('/py_server', master=Master(ros.master_uri))
    try:
        out = subprocess.run([sys.executable, '-c', PY_CLIENT, str(n)], env=ros.env,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        totals = Window(window_s=0.0)

        def done():
            totals.merge(tracer.collect())
            return sum(sum(a.outcomes.values()) for a in totals.actions.values()) >= n
        wait_for(done, timeout=30, interval=0.5, what=f'{n} results')
        (srv,) = tracer.build_actions(totals)
        assert (srv.role, srv.peer, srv.goals, srv.outcomes['succeeded']) == (
            'server', '/py_client', n, n)
        assert 0.010 <= srv.stages['accept'].mean < 0.05
    finally:
        tracer.detach(target.pid)


def test_monitor_publishes_actions_and_tf_with_their_statuses(ros, tmp_path):
    """The monitor node: ActionBreakdown on /rostrace/actions, TfBreakdown on /rostrace/tf
    (rostopic echo), a status per action side and per frame pair on /diagnostics with the
    configured bounds, and the topic whose processing is mostly a TF wait says so."""
    from monitoring import MONITOR, echo, echoed, start_monitor, statuses, wait_for_attached, write_config
    config = write_config(tmp_path / 'm.yaml', '''
publish_rate: 2
window: 120
targets:
  - node: /mon_server
    actions: {accept: {warn: 20}}
  - node: /mon_client
  - node: /mon_tf
    tf: {failed: {error: 0}}
''')
    actions, tf = echo(ros, '/rostrace/actions', 'echo_actions'), echo(ros, '/rostrace/tf', 'echo_tf')
    diagnostics = echo(ros, '/diagnostics', 'echo_diagnostics')
    monitor = start_monitor(ros, config)
    wait_for(lambda: statuses(diagnostics, MONITOR), timeout=60,
             what='the monitor running')
    ros.node('actions', 'mon_server', params={'role': 'server', 'action': '/mon_work',
                                              'accept_ms': ACCEPT_MS, 'feedback_ms': 10,
                                              'feedbacks': 2})
    ros.node('actions', 'mon_client', params={'role': 'client', 'action': '/mon_work',
                                              'goals': 3, 'start_delay': 5.0})
    ros.node('tf_lookups', 'mon_tf', params={'delay_ms': 30, 'unknown_every': 2,
                                             'island_every': 0, 'timer_lookups': 4,
                                             'period_ms': 100, 'start_delay': 5.0})
    for node in ('/mon_server', '/mon_client', '/mon_tf'):
        wait_for_attached(monitor, node)
    ros.node('publisher', 'mon_pub', params={'topic': '/mon_tf/input', 'count': 10, 'rate': 10,
                                             'wait_subscribers': 1, 'start_delay': 1.0})

    def last(proc, pred):
        msgs = [m for m in echoed(proc) if pred(m)]
        return msgs and msgs[-1]
    srv = wait_for(lambda: last(actions, lambda m: m['node'] == '/mon_server'
                                and m['succeeded'] >= 3), timeout=60, interval=0.5,
                   what='an ActionBreakdown of 3 results')
    assert (srv['role'], srv['peer'], srv['action'], srv['count']) == (
        'server', '/mon_client', '/mon_work', 3)
    assert abs(srv['accept']['mean'] - ACCEPT_MS / 1e3) < 0.01
    # /diagnostics is echoed by another process than /rostrace/actions: it may lag, its
    # newest status still from a period before the goals (OK). The WARN must follow.
    def action_status():
        got = statuses(diagnostics, 'rostrace: /mon_server action /mon_work '
                                    '(server from /mon_client)')
        return got and got[-1]['level'] != 0 and got[-1]
    status = wait_for(action_status, timeout=10, interval=0.2, what='the action status')
    assert status['level'] == 1 and status['message'].startswith('accept p99 ')
    ghost = wait_for(lambda: last(tf, lambda m: m['source_frame'] == 'ghost_frame'
                                  and m['failed_lookup'] >= 2), timeout=60, interval=0.5,
                     what='a TfBreakdown of 2 failed lookups')
    assert (ghost['node'], ghost['target_frame'], ghost['count'], ghost['failed']) == (
        '/mon_tf', 'map', 2, 2)
    ghost_status = 'rostrace: /mon_tf tf map\u2192ghost_frame'
    wait_for(lambda: [s for s in statuses(diagnostics, ghost_status)
                      if (s['level'], s['message']) == (2, 'failed 2 > error 0')],
             timeout=10, interval=0.2,
             what='the ghost frame\'s ERROR "failed 2 > error 0"')
    topic = wait_for(lambda: [s for s in statuses(diagnostics, 'rostrace: /mon_tf /mon_tf/input')
                              if 'TF wait' in s['message']], timeout=30, interval=0.5,
                     what='the input topic dominated by its TF wait')[-1]
    assert 'processing dominated by TF wait for map\u2192base_link' in topic['message']
