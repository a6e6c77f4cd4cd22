"""Hosts simulated on this machine for multi-host tests (issue 18).

A SimulatedHost has its own PID, mount and UTS namespaces (its /proc shows only its own
processes, its hostname is its own) and runs in a given network namespace. Programs
enter it with `prefix` (nsenter). `close()` kills its init: the kernel then ends every
process in it.
"""
import os
import signal
import subprocess
import time


class SimulatedHost:
    def __init__(self, name, *, netns=None):
        self.name = name
        enter_net = ['nsenter', f'--net=/run/netns/{netns}'] if netns else []
        self._proc = subprocess.Popen(
            [*enter_net, 'unshare', '--pid', '--fork', '--mount-proc', '--uts', 'sh', '-c',
             f'hostname {name} && exec sleep 1000000'],
            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.init_pid = self._find_init()

    def _find_init(self):
        """The host PID of the namespace's PID 1 (the forked child of unshare)."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f'host {self.name}: {self._proc.stderr.read().decode()}')
            for pid in os.listdir('/proc'):
                if not pid.isdigit():
                    continue
                try:
                    with open(f'/proc/{pid}/stat') as f:
                        fields = f.read().rsplit(')', 1)[1].split()
                    with open(f'/proc/{pid}/comm') as f:
                        comm = f.read().strip()
                except OSError:
                    continue
                if int(fields[2]) == os.getpgid(self._proc.pid) and comm == 'sleep' \
                        and int(pid) != self._proc.pid:
                    return int(pid)
            time.sleep(0.05)
        raise RuntimeError(f'host {self.name}: its init did not start')

    @property
    def prefix(self):
        """Command prefix that runs a program on this host."""
        return ('nsenter', '-t', str(self.init_pid), '--pid', '--mount', '--uts', '--net')

    def close(self):
        try:
            os.killpg(self._proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._proc.wait()
