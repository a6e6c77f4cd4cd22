"""Issue 5 acceptance: the live `trace` view in a pseudo-terminal, `report` from a
bag recorded with the monitor, and `doctor`."""
import html
import os
import pty
import re
import select
import signal
import subprocess
import time

import rosbag
from std_msgs.msg import String

from harness import PY, REPO, default_sigint, read_csv, wait_for
from monitoring import echo, echoed
from tracing import assert_mean_close, durations_s, publish

ROSTRACE = [PY, os.path.join(REPO, 'scripts', 'rostrace')]
ANSI = re.compile(r'\x1b\[[0-9;]*[A-Za-z]')


class PtyRun:
    """rostrace on a pseudo-terminal, as a person would run it."""

    def __init__(self, ros, *args):
        master, slave = pty.openpty()
        self.fd = master
        self.proc = subprocess.Popen([*ROSTRACE, *args], env=ros.env, stdin=slave,
                                     stdout=slave, stderr=slave, start_new_session=True,
                                     preexec_fn=default_sigint)
        ros.procs.append(self.proc)     # ended with the test's processes, even on failure
        os.close(slave)
        self.screen = ''

    def read(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if ready:
                try:
                    self.screen += os.read(self.fd, 65536).decode(errors='replace')
                except OSError:
                    break
        return ANSI.sub('', self.screen)

    def interrupt(self):
        os.killpg(self.proc.pid, signal.SIGINT)
        text = self.read(8)
        self.proc.wait(timeout=20)
        os.close(self.fd)
        return text


def stage_row(block, stage):
    """(count, mean) of a stage row in a topic block of the live view."""
    m = re.search(r'^[* ] ' + stage + r'\s+(\d+)\s+(\S+)', block, re.M)
    value = m.group(2)
    scale = {'ns': 1e-9, 'us': 1e-6, 'ms': 1e-3, 's': 1.0}
    number, unit = re.fullmatch(r'([\d.]+)(ns|us|ms|s)', value).groups()
    return int(m.group(1)), float(number) * scale[unit]


def test_live_view_in_a_terminal_and_summary_against_truth(ros, tmp_path):
    truth = str(tmp_path / 'p.csv')
    ros.node('processing', 'processing_delay_node', params={
        'topic': '/slow_topic', 'work_ms': 6.0, 'truth_file': truth})
    run = PtyRun(ros, 'trace', '--node', '/processing_delay_node', '--topic', '/slow_topic',
                 '--hist')
    wait_for(lambda: 'Hit Ctrl-C' in run.read(0.2), timeout=60, what='attach')
    assert 'Compiling the BPF program' in run.read(0)
    publish(ros, 'pub', '/slow_topic', count=100, rate=50)
    wait_for(lambda: len(read_csv(truth)) >= 100, timeout=30, what='100 callbacks')
    screen = run.read(1.5)
    assert '\x1b[H\x1b[2J' in run.screen                 # redrawn in place on a terminal
    assert re.search(r'/slow_topic\s+[\d.]+ msg/s\s+received \d+', screen)
    assert re.search(r'^\* processing', screen, re.M)    # the dominant stage is marked
    assert 'processing distribution:' in screen and '|*' in screen
    summary = run.interrupt().split('Summary of')[-1]
    assert run.proc.returncode == 0
    count, mean = stage_row(summary, 'processing')
    assert count == 100
    truth_d = durations_s(read_csv(truth))
    assert_mean_close(mean, sum(truth_d) / len(truth_d), 'live summary processing mean')


def test_wait_for_a_node_that_is_not_up_yet(ros):
    proc = ros.spawn([*ROSTRACE, 'trace', '--node', '/late_node', '--wait', '--json',
                      '--duration', '2'], 'rostrace_wait')
    from harness import read_log
    wait_for(lambda: 'Waiting for /late_node to register' in read_log(proc), timeout=20,
             what='the waiting message')
    ros.node('processing', 'late_node')
    wait_for(lambda: proc.poll() is not None, timeout=60, what='the trace to end')
    assert proc.returncode == 0 and 'Tracing' in read_log(proc)


def test_report_from_a_bag_recorded_with_the_monitor(ros, tmp_path):
    ros.spawn(['roslaunch', 'rostrace', 'demo.launch'], 'demo_launch')
    ros.wait_node('/rostrace_monitor', timeout=60)
    listener = echo(ros, '/rostrace/latency', 'echo_latency')
    wait_for(lambda: len(echoed(listener)) >= 8, timeout=60, what='the monitor publishing')
    bag_path = str(tmp_path / 'demo.bag')
    recorder = ros.spawn(['rosbag', 'record', '-O', bag_path, '/rostrace/latency',
                          '/rostrace/timers', '/rostrace/services', '/diagnostics'], 'rosbag')
    time.sleep(6)
    os.killpg(recorder.pid, signal.SIGINT)
    wait_for(lambda: os.path.exists(bag_path), timeout=20, what='the bag')
    ros.stop(recorder)

    out = str(tmp_path / 'report.html')
    r = subprocess.run([*ROSTRACE, 'report', bag_path, '-o', out], env=ros.env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    with rosbag.Bag(bag_path) as bag:
        traced = {f'{m.node} {m.topic}' for _, m, _ in bag.read_messages(['/rostrace/latency'])}
        timers = {f'{m.node} timer {m.timer}'
                  for _, m, _ in bag.read_messages(['/rostrace/timers'])}
        services = {f'{m.node} service {m.service} ({m.role})'
                    for _, m, _ in bag.read_messages(['/rostrace/services'])}
    assert len(traced) == 8
    assert timers == {'/controller_node timer Controller::update<ros::TimerEvent>'}
    assert services == {'/work_server service /work (server)',
                        '/work_client service /work (client)'}
    page = open(out).read()
    for key in traced | timers | services:
        assert f'<img alt="{html.escape(key)}" src="data:image/png;base64,' in page
    assert page.count('<img ') == len(traced) + len(timers) + len(services)
    line = next(line for line in r.stdout.splitlines()
                if line.startswith('/processing_delay_node /slow_topic:'))
    assert 'dominant stage: processing' in line
    line = next(line for line in r.stdout.splitlines() if line.startswith('/work_server '))
    assert ' failed' in line and 'handling p99' in line


def test_report_refuses_bad_input_clearly(ros, tmp_path):
    def report(*paths):
        return subprocess.run([*ROSTRACE, 'report', *paths, '-o', str(tmp_path / 'r.html')],
                              env=ros.env, capture_output=True, text=True, timeout=60)
    r = report(str(tmp_path / 'missing.bag'))
    assert r.returncode == 1 and 'no such bag file' in r.stderr

    empty = str(tmp_path / 'other.bag')
    with rosbag.Bag(empty, 'w') as bag:
        bag.write('/chatter', String(data='hi'))
    r = report(empty)
    assert r.returncode == 1 and 'no rostrace/LatencyBreakdown messages' in r.stderr
    assert 'rosbag record /rostrace/latency' in r.stderr

    truncated = str(tmp_path / 'truncated.bag')
    data = open(empty, 'rb').read()
    with open(truncated, 'wb') as f:
        f.write(data[:len(data) // 2])
    r = report(truncated)
    assert r.returncode == 1 and truncated in r.stderr
    assert 'Traceback' not in r.stderr
    assert not os.path.exists(tmp_path / 'r.html')


def test_doctor_passes_here_and_explains_missing_tracefs(ros):
    ros.node('processing', 'doctor_node')
    r = subprocess.run([*ROSTRACE, 'doctor', '--node', '/doctor_node'], env=ros.env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'tracing will work' in r.stdout
    assert '[ OK ] probe point queue_push' in r.stdout
    assert '[ OK ] BPF compile' in r.stdout
    assert '[ OK ] kernel: BPF ring buffer (Linux 5.8): present' in r.stdout
    assert '[ OK ] kernel: uprobe_multi links (Linux 6.6): present' in r.stdout
    # tracefs unmounted in a private mount namespace only
    script = 'umount /sys/kernel/tracing && exec ' + ' '.join(ROSTRACE) + ' doctor'
    r = subprocess.run(['unshare', '--mount', 'sh', '-c', script], env=ros.env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert '[FAIL] tracefs and uprobes: tracefs is not mounted at /sys/kernel/tracing' in r.stdout
    assert 'fix: mount -t tracefs tracefs /sys/kernel/tracing' in r.stdout
    assert ('kernel: sched tracepoints (sched/sched_switch, sched/sched_waking) (any kernel '
            'with CONFIG_TRACEPOINTS): not known') in r.stdout
    assert os.path.exists('/sys/kernel/tracing/uprobe_events')
