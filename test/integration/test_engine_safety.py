"""Issue 3 acceptance: per-PID attachment, PID namespaces, nothing left behind,
and the errors a user can hit."""
import os
import re
import signal
import subprocess

import pytest

from harness import PY, REPO, read_log, wait_for
from tracing import (BREAKPOINT, node_pid, probe_bytes, receive_breakpoints, start_trace,
                     stop_trace, topic_windows)

from rostrace.probes.program import HANDLERS
from rostrace.system.symbols import RECEIVE_POINTS

# One link per receive handler, + SubscriptionQueue::call's entry until a message has
# taught the kernel which register holds the queue (no message flows in these tests).
RECEIVE_LINKS = sum(fn is not None for point in RECEIVE_POINTS for fn in HANDLERS[point]) + 1


def uprobe_events():
    with open('/sys/kernel/tracing/uprobe_events') as f:
        return f.read()


# Uprobes as BPF links where the kernel has them, BCC's perf events elsewhere (forced).
UPROBE_KINDS = pytest.mark.parametrize('env', [None, {'ROSTRACE_PERF_UPROBES': '1'}],
                                       ids=['links', 'perf_events'])


def bpf_links(pid):
    """How many BPF link fds process `pid` holds."""
    fd_dir = f'/proc/{pid}/fd'
    return sum(os.readlink(os.path.join(fd_dir, fd)) == 'anon_inode:bpf_link'
               for fd in os.listdir(fd_dir))


@UPROBE_KINDS
def test_only_the_target_gets_breakpoints_and_detach_removes_them(ros, env):
    ros.node('processing', 'traced', params={'topic': '/a', 'work_ms': 1.0})
    ros.node('processing', 'bystander', params={'topic': '/b', 'work_ms': 1.0})
    traced, bystander = node_pid(ros, '/traced'), node_pid(ros, '/bystander')
    before = probe_bytes(traced)
    assert BREAKPOINT not in before.values()

    trace = start_trace(ros, '--node', '/traced', env=env)
    assert receive_breakpoints(traced) == RECEIVE_POINTS - {'queue_call'}     # a subscriber: no publish probe
    assert bpf_links(trace.pid) == (0 if env else RECEIVE_LINKS)
    assert probe_bytes(bystander) == before            # not a single breakpoint
    stop_trace(ros, trace)
    assert probe_bytes(traced) == before
    assert 'libroscpp' not in uprobe_events()


@UPROBE_KINDS
def test_sigkill_of_the_tracer_leaves_no_uprobe(ros, env):
    ros.node('processing', 'victim', params={'work_ms': 1.0})
    pid = node_pid(ros, '/victim')
    before = probe_bytes(pid)
    trace = start_trace(ros, '--node', '/victim', env=env)
    assert receive_breakpoints(pid) == RECEIVE_POINTS - {'queue_call'}     # a subscriber: no publish probe
    os.killpg(trace.pid, signal.SIGKILL)
    trace.wait(timeout=10)
    wait_for(lambda: probe_bytes(pid) == before, timeout=10, what='breakpoints removed')
    assert 'libroscpp' not in uprobe_events()


def test_node_in_its_own_pid_namespace_is_traced_by_name(ros, tmp_path):
    truth = str(tmp_path / 'ns.csv')
    ros.node('processing', 'ns_node', params={'work_ms': 2.0, 'truth_file': truth},
             prefix=('unshare', '--pid', '--fork', '--mount-proc'))
    ns_pid = node_pid(ros, '/ns_node')
    trace = start_trace(ros, '--node', '/ns_node', '--interval', '120')
    ros.node('publisher', 'pub', params={'topic': '/processing/data', 'count': 20,
                                         'rate': 50, 'wait_subscribers': 1})
    wait_for(lambda: len(open(truth).read().splitlines()) > 20, timeout=30, what='20 rows')
    reports = stop_trace(ros, trace)
    assert reports[0]['pid'] != ns_pid                 # the host PID, not the namespaced one
    windows = topic_windows(reports, '/processing/data')
    assert sum(w['processed'] for w in windows) == 20


def run_cli(ros, *args, user=None):
    argv = [PY, os.path.join(REPO, 'scripts', 'rostrace'), *args]
    if user:
        argv = ['setpriv', f'--reuid={user}', f'--regid={user}', '--clear-groups', *argv]
    return subprocess.run(argv, env=ros.env, capture_output=True, text=True, timeout=60)


def test_unknown_node_lists_the_nodes_that_exist(ros):
    ros.node('processing', 'real_node')
    r = run_cli(ros, 'trace', '--node', '/no_such_node', '--json')
    assert r.returncode == 1
    assert "node '/no_such_node' is not registered" in r.stderr
    assert '/real_node' in r.stderr and 'Traceback' not in r.stderr


def test_rospy_node_is_traced_without_probes_and_audit_refused_clearly(ros):
    ros.spawn(['rostopic', 'pub', '-r', '1', '/py_topic', 'std_msgs/String', 'hi',
               '__name:=py_node'], 'py_node')
    ros.wait_node('/py_node')
    r = run_cli(ros, 'trace', '--node', '/py_node', '--json', '--duration', '1.5',
                '--interval', '0.5')
    assert r.returncode == 0, r.stderr
    assert 'a rospy node' in r.stderr and 'Traceback' not in r.stderr
    r = run_cli(ros, 'trace', '--node', '/py_node', '--json', '--audit')
    assert r.returncode == 1
    assert 'rospy node' in r.stderr and 'audit' in r.stderr and 'Traceback' not in r.stderr


def test_unknown_topic_lists_subscribed_topics(ros):
    ros.node('processing', 'topic_node')
    r = run_cli(ros, 'trace', '--node', '/topic_node', '--topic', '/nope', '--json')
    assert r.returncode == 1
    assert '/nope' in r.stderr and '/processing/data' in r.stderr


def test_not_root_is_one_clear_line(ros):
    r = run_cli(ros, 'trace', '--node', '/whatever', '--json', user='65534')
    assert r.returncode == 77
    assert 'needs root' in r.stderr and 'Traceback' not in r.stderr


def test_library_by_pid_needs_no_master(ros, tmp_path):
    truth = str(tmp_path / 'pid.csv')
    ros.node('processing', 'by_pid', params={'work_ms': 2.0, 'truth_file': truth})
    pid = node_pid(ros, '/by_pid')
    env = dict(ros.env, ROS_MASTER_URI='http://127.0.0.1:1')     # no master there
    proc = ros.spawn([PY, os.path.join(REPO, 'scripts', 'rostrace'), 'trace', '--pid',
                      str(pid), '--json', '--interval', '120'], 'rostrace_pid', env=env)
    wait_for(lambda: 'Tracing' in read_log(proc) or proc.poll() is not None, timeout=60,
             what='attach by pid')
    ros.node('publisher', 'pub', params={'topic': '/processing/data', 'count': 15,
                                         'rate': 50, 'wait_subscribers': 1})
    wait_for(lambda: len(open(truth).read().splitlines()) > 15, timeout=30, what='15 rows')
    reports = stop_trace(ros, proc)
    assert reports[0]['node'] == '/by_pid'          # from its __name:= argument
    assert sum(w['processed'] for w in topic_windows(reports, '/processing/data')) == 15


def test_text_view_names_each_topic(ros):
    ros.node('queuing', 'text_node')
    r = run_cli(ros, 'trace', '--node', '/text_node', '--duration', '1.5', '--interval', '0.5')
    assert r.returncode == 0, r.stderr
    assert 'Summary of' in r.stdout and re.search(r'^[* ] processing', r.stdout, re.M)
    assert '/queuing/fast' in r.stdout and '/queuing/slow' in r.stdout
