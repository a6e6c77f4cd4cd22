"""Soak (issue 12): a running monitor against churn, with its targets and itself
killed by SIGKILL and the master restarted. Short in `make test` (test_soak.py), long in
`make bench` (section soak): the same code, other counts.

Checked every time: the monitor re-attaches to the new process; a killed monitor leaves
no breakpoint (int3) in its target and no uprobe entry in tracefs; the monitor's open
fds and RSS stay flat while it survives the churn (printed)."""
import os
import signal
import time

from harness import wait_for
from monitoring import attached_lines, start_monitor, write_config
from tracing import breakpoints, publish

TARGET, TOPIC = '/soak_target', '/soak/data'
UPROBE_EVENTS = ('/sys/kernel/tracing/uprobe_events', '/sys/kernel/debug/tracing/uprobe_events')


def usage(pid):
    """(open fds, RSS in KiB) of process `pid`."""
    fds = len(os.listdir(f'/proc/{pid}/fd'))
    with open(f'/proc/{pid}/status') as f:
        rss = next(int(line.split()[1]) for line in f if line.startswith('VmRSS:'))
    return fds, rss


def uprobe_entries():
    for path in UPROBE_EVENTS:
        if os.path.exists(path):
            with open(path) as f:
                return [line for line in f.read().splitlines() if line.strip()]
    return []


def kill(ros, proc):
    os.kill(proc.pid, signal.SIGKILL)
    ros.stop(proc)


class Soak:
    def __init__(self, ros, tmpdir, *, log=print):
        self.ros, self.log = ros, log
        self.config = write_config(os.path.join(tmpdir, 'soak.yaml'),
                                   f'publish_rate: 4\ntargets:\n  - node: {TARGET}\n')
        self.target = self.source = self.monitor = None
        self.uprobes_before = len(uprobe_entries())
        self.usage = []             # (phase, fds, rss KiB) of the surviving monitor

    def start_nodes(self):
        self.target = self.ros.node('processing', TARGET[1:],
                                    params={'topic': TOPIC, 'work_ms': 0.2})
        if self.source is None:
            self.source = publish(self.ros, 'soak_source', TOPIC, count=10**7, rate=50)

    def wait_attached(self, timeout=60):
        pid = self.target.pid
        wait_for(lambda: pid in [p for _, p in attached_lines(self.monitor, TARGET)],
                 timeout=timeout, interval=0.1, what=f'the monitor to attach to pid {pid}')

    def note(self, phase):
        fds, rss = usage(self.monitor.pid)
        self.usage.append((phase, fds, rss))
        self.log(f'soak {phase}: monitor fds {fds}, RSS {rss / 1024:.1f} MiB')

    def start(self):
        self.start_nodes()
        self.monitor = start_monitor(self.ros, self.config)
        self.wait_attached()
        self.note('start')

    def kill_targets(self, n):
        for i in range(n):
            kill(self.ros, self.target)
            self.start_nodes()
            self.wait_attached()
            if i == 0 or (i + 1) % max(1, n // 5) == 0:
                self.note(f'target restart {i + 1}')

    def restart_master(self, n):
        for i in range(n):
            self.ros.restart_master()
            kill(self.ros, self.target)         # nodes do not re-register with a new master
            self.ros.stop(self.source)
            self.source = None
            self.start_nodes()
            self.wait_attached()
            self.note(f'master restart {i + 1}')

    def kill_monitor(self, n):
        for i in range(n):
            time.sleep(0.5)                     # mid-stream: probes are being hit
            kill(self.ros, self.monitor)
            left = breakpoints(self.target.pid)
            assert left == set(), f'monitor SIGKILL {i + 1}: breakpoints left: {left}'
            entries = uprobe_entries()
            assert len(entries) <= self.uprobes_before, entries[-5:]
            self.monitor = start_monitor(self.ros, self.config)
            self.wait_attached()
        self.log(f'soak: monitor SIGKILL x{n}: no breakpoint, no uprobe entry left')

    def flat(self, *, fd_slack, rss_slack_kib):
        """The surviving monitor's fds and RSS after the first churn stay within slack of
        the first three samples' highest (connections come and go: 142-146 fds in one
        run; a leak grows with every restart)."""
        runs = [u for u in self.usage if u[0] != 'start']
        if len(runs) < 4:
            return
        fds0, rss0 = max(u[1] for u in runs[:3]), max(u[2] for u in runs[:3])
        for phase, fds, rss in runs[3:]:
            assert fds <= fds0 + fd_slack, (phase, fds, fds0)
            assert rss <= rss0 + rss_slack_kib, (phase, rss, rss0)
