"""Measure what one uprobe entry+return pair costs on this machine, at start-up.

rostrace_calibrate calls an empty function in a loop; the loop runs once untraced
and once with the same entry+return pair the receive path uses. The difference
per call is the pair's cost; the span the BPF handlers see from entry to return is
the part that lands inside any measured span.
"""
import subprocess
from dataclasses import dataclass

from ..errors import SystemNotReady
from ..system import symbols

TARGET_SYMBOL = 'rostrace_calibrate_target'


@dataclass(frozen=True)
class Calibration:
    pair_ns: float      # time added to the traced thread per entry+return pair
    inner_ns: float     # part of it inside the span from entry to return
    untraced_ns: float  # one call without probes
    calls: int

    def as_dict(self):
        return {'pair_ns': self.pair_ns, 'inner_ns': self.inner_ns,
                'untraced_ns': self.untraced_ns, 'calls': self.calls}


def calibrate_binary():
    try:
        from catkin.find_in_workspaces import find_in_workspaces   # absent without ROS
        found = find_in_workspaces(['libexec'], project='rostrace',
                                   path='rostrace_calibrate', first_matching_workspace_only=True)
    except ImportError:
        found = []
    if not found:
        raise SystemNotReady('rostrace_calibrate not found in the catkin workspace',
                             hint='build with `make build` and source ws/devel/setup.bash')
    return found[0]


def target_address(path):
    address = symbols.symbol_address(path, TARGET_SYMBOL)
    if address is None:
        raise SystemNotReady(f'{TARGET_SYMBOL} not found in {path}', hint='rebuild: make build')
    return address


def run_loop(proc):
    """One loop of rostrace_calibrate: {'calls', 'thread_cpu_ns', 'wall_ns'}."""
    proc.stdin.write('go\n')
    proc.stdin.flush()
    return {k: int(v) for k, v in (kv.split('=') for kv in proc.stdout.readline().split())}


def calibrate(probes, *, calls=20000, rounds=2):
    """Run the calibration with `probes` (a BpfProgram) and load the result into it."""
    path = calibrate_binary()
    address = target_address(path)
    proc = subprocess.Popen([path, str(calls)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        proc.stdout.readline()                        # "ready <pid>"
        untraced = min(run_loop(proc)['wall_ns'] for _ in range(rounds))
        probes.attach_calibration(proc.pid, path, address)
        probes.tables.calibration_span()
        traced = min(run_loop(proc)['wall_ns'] for _ in range(rounds))
        span_sum, span_count = probes.tables.calibration_span()
    finally:
        probes.detach(proc.pid)
        proc.stdin.close()
        proc.wait(timeout=10)
    untraced_ns = untraced / calls
    pair_ns = max(0.0, (traced - untraced) / calls)
    inner_ns = max(0.0, span_sum / span_count - untraced_ns) if span_count else 0.0
    result = Calibration(pair_ns=pair_ns, inner_ns=min(inner_ns, pair_ns),
                         untraced_ns=untraced_ns, calls=calls)
    probes.tables.set_calibration(pair_ns=result.pair_ns, inner_ns=result.inner_ns)
    return result
