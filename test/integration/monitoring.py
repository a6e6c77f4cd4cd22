"""Helpers for monitor tests: start rostrace_monitor, listen to topics with real ROS
tools (rostopic echo, rosdiagnostic) and read what they printed."""
import re
import socket
import subprocess

import yaml

from harness import PY, SLOWDOWN, read_log, wait_for

MONITOR = f'rostrace: monitor {socket.gethostname()}'    # the monitor's own status

ROSDIAGNOSTIC = [PY, '-c', 'from rosdiagnostic.rosdiagnostic import rosdiagnosticmain; '
                 'rosdiagnosticmain()']


def write_config(path, text):
    with open(path, 'w') as f:
        f.write(text)
    return str(path)


def start_monitor(ros, config, *, name='rostrace_monitor', attached=()):
    proc = ros.node('rostrace_monitor', name, params={'config': config})
    for node in attached:
        wait_for_attached(proc, node)
    return proc


def attached_lines(proc, node):
    """[(ros wall time, pid)] of the monitor's 'attached to NODE (pid N)' log lines."""
    pattern = re.compile(r'\[(\d+\.\d+)\]: rostrace_monitor: attached to '
                         + re.escape(node) + r' \(pid (\d+)\)')
    return [(float(t), int(pid)) for t, pid in pattern.findall(read_log(proc))]


def wait_for_attached(proc, node, timeout=60):
    return wait_for(lambda: attached_lines(proc, node), timeout=timeout,
                    what=f'the monitor to attach to {node}')


def echo(ros, topic, name):
    return ros.spawn(['rostopic', 'echo', topic], name)


class _EchoLoader(yaml.SafeLoader):
    """YAML 1.1 reads a float printed without a dot ('5e-06', as rostopic prints an
    exact 5 us) as a string: read it as the float it is."""


_EchoLoader.add_implicit_resolver('tag:yaml.org,2002:float',
                                  re.compile(r'^[-+]?[0-9]+[eE][-+]?[0-9]+$'),
                                  list('-+0123456789'))


def echoed(proc):
    """Messages `rostopic echo` printed so far (a partial last one is left out)."""
    out = []
    for doc in read_log(proc).split('\n---\n')[:-1]:
        try:
            msg = yaml.load(doc, Loader=_EchoLoader)
        except yaml.YAMLError:
            continue
        if isinstance(msg, dict):
            out.append(msg)
    return out


def statuses(proc, name):
    """Every status called `name` echoed from /diagnostics, oldest first."""
    return [s for msg in echoed(proc) for s in msg.get('status', []) if s['name'] == name]


def rosdiagnostic(ros):
    r = subprocess.run([*ROSDIAGNOSTIC, '-l', '0', '--nocolor'], env=ros.env,
                       capture_output=True, text=True, timeout=30 * SLOWDOWN)
    return r.stdout
