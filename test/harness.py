"""Real ROS processes for tests and benchmarks: a private roscore, scenario nodes,
rostrace runs. Everything started here runs in its own process group and is ended
by PID/process group, never by name."""
import csv
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import xmlrpc.client

PY = '/usr/bin/python3'
# How much slower than this machine the one running the tests is (an emulated VM: make
# vm-test): every deadline for something to happen is that much longer. Measurement
# windows and bounds stay as they are.
SLOWDOWN = float(os.environ.get('ROSTRACE_TEST_SLOWDOWN', '1'))
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUBSCRIBER_FIELDS = ('topic', 'seq', 'count', 'size', 'cb_start_ns', 'cb_end_ns',
                     'wait_ns', 'gap')


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def default_sigint():
    """Child processes answer SIGINT (how tests stop them) even when the test run
    itself was started in the background, where POSIX shells ignore SIGINT."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def stop_process(proc, *, timeout=5.0):
    """SIGINT the process group, then SIGKILL it; returns the exit code."""
    if proc.poll() is None:
        for sig, wait_s in ((signal.SIGINT, timeout * SLOWDOWN), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=wait_s)
                break
            except subprocess.TimeoutExpired:
                continue
    try:   # children that outlived the leader (rosrun -> node) go with the group
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return proc.returncode


class RosSystem:
    """A private roscore on a free port and the processes started against it."""

    def __init__(self, logdir=None, *, ros_ip=None):
        """`ros_ip`: the address the master and the nodes advertise (default loopback),
        e.g. a veth address other network namespaces reach."""
        self.logdir = logdir or tempfile.mkdtemp(prefix='rostrace-test-')
        self.port = free_port()
        self.master_uri = f'http://{ros_ip or "127.0.0.1"}:{self.port}'
        extra = {'ROS_IP': ros_ip} if ros_ip else {}
        self.env = dict(os.environ, ROS_MASTER_URI=self.master_uri, **extra,
                        ROS_HOME=os.path.join(self.logdir, 'ros_home'),
                        ROS_LOG_DIR=os.path.join(self.logdir, 'ros_log'),
                        PYTHONUNBUFFERED='1')
        self.procs = []
        self.roscore = None

    def start(self):
        self.roscore = self.spawn(['roscore', '-p', str(self.port)], 'roscore')
        deadline = time.monotonic() + 20 * SLOWDOWN
        while time.monotonic() < deadline:
            try:
                self.master().getPid('/test')
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f'roscore did not come up on port {self.port}')

    def master(self):
        return xmlrpc.client.ServerProxy(self.master_uri)

    def restart_master(self):
        """A new roscore on the same port: it knows none of the running nodes."""
        self.stop(self.roscore)
        return self.start()

    def spawn(self, argv, name, *, env=None, stdin=None):
        log = open(os.path.join(self.logdir, f'{name}.log'), 'w')
        proc = subprocess.Popen(argv, env=env or self.env, stdout=log,
                                stderr=subprocess.STDOUT, stdin=stdin or subprocess.DEVNULL,
                                start_new_session=True, preexec_fn=default_sigint)
        proc.log_path = log.name
        self.procs.append(proc)
        return proc

    def node(self, executable, name, *, params=None, args=(), wait=True, prefix=(), env=None):
        """rosrun rostrace EXECUTABLE __name:=NAME _param:=value ..."""
        argv = [*prefix, 'rosrun', 'rostrace', executable, f'__name:={name}', *args]
        for key, value in (params or {}).items():
            if isinstance(value, (list, tuple)):
                value = '[' + ','.join(str(v) for v in value) + ']'
            elif isinstance(value, bool):
                value = 'true' if value else 'false'
            argv.append(f'_{key}:={value}')
        proc = self.spawn(argv, name.strip('/').replace('/', '_'),
                          env=dict(self.env, **env) if env else None)
        if wait:
            self.wait_node('/' + name.lstrip('/'), proc=proc)
        return proc

    def wait_node(self, name, *, proc=None, timeout=20.0):
        deadline = time.monotonic() + timeout * SLOWDOWN
        while time.monotonic() < deadline:
            code, _, _ = self.master().lookupNode('/test', name)
            if code == 1:
                return
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f'{name} exited early: {read_log(proc)}')
            time.sleep(0.05)
        raise RuntimeError(f'{name} did not register with the master')

    def wait_subscribed(self, node, topic, timeout=10.0):
        deadline = time.monotonic() + timeout * SLOWDOWN
        while time.monotonic() < deadline:
            _, _, state = self.master().getSystemState('/test')
            if any(t == topic and node in n for t, n in state[1]):
                return
            time.sleep(0.05)
        raise RuntimeError(f'{node} did not subscribe to {topic}')

    def rostrace(self, *args, name='rostrace', env=None):
        return self.spawn([PY, os.path.join(REPO, 'scripts', 'rostrace'), *args], name,
                          env=dict(self.env, **env) if env else None)

    def stop(self, proc):
        rc = stop_process(proc)
        if proc in self.procs:
            self.procs.remove(proc)
        return rc

    def shutdown(self):
        for proc in reversed(self.procs[:]):
            if proc is not self.roscore:
                self.stop(proc)
        if self.roscore is not None:
            self.stop(self.roscore)


def read_log(proc):
    with open(proc.log_path) as f:
        return f.read()


def wait_for(predicate, *, timeout, interval=0.05, what='condition'):
    deadline = time.monotonic() + timeout * SLOWDOWN
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f'timed out after {timeout * SLOWDOWN:g}s waiting for {what}')


def count_rows(path):
    """Complete rows of a truth file so far, cheaply (polled while nodes are measured)."""
    try:
        with open(path, 'rb') as f:
            return max(0, f.read().count(b'\n') - 1)
    except FileNotFoundError:
        return 0


def read_csv(path):
    """Rows of a scenario truth file, integers where they are integers."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        rows = list(csv.DictReader(f))
    out = []
    for row in rows:
        if None in row.values():
            continue            # a row still being written
        out.append({k: (v if k == 'topic' else int(v)) for k, v in row.items()})
    return out


def json_lines(text):
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith('{'):
            out.append(json.loads(line))
    return out
