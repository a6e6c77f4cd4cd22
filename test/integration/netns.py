"""A second network namespace joined to this one by a veth pair, for transport tests.

The namespace side's egress (publisher -> subscriber) can be rate-limited with
`tc tbf` (this kernel has no netem). Everything is created under names unique to
this test process and removed by `close()`, even after a failure.
"""
import os
import subprocess


def _run(*argv):
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f'{" ".join(argv)}: {r.stderr.strip()}')
    return r.stdout


class VethPair:
    def __init__(self):
        tag = os.getpid() % 10000
        self.ns = f'rostrace-{tag}'
        self.host_if, self.ns_if = f'rtv{tag}h', f'rtv{tag}n'
        subnet = 10 + tag % 200
        self.host_ip, self.ns_ip = f'10.213.{subnet}.1', f'10.213.{subnet}.2'
        self._made = []
        try:
            _run('ip', 'netns', 'add', self.ns)
            self._made.append(('ip', 'netns', 'delete', self.ns))
            _run('ip', 'link', 'add', self.host_if, 'type', 'veth', 'peer', 'name', self.ns_if)
            self._made.append(('ip', 'link', 'delete', self.host_if))
            _run('ip', 'link', 'set', self.ns_if, 'netns', self.ns)
            _run('ip', 'addr', 'add', f'{self.host_ip}/30', 'dev', self.host_if)
            _run('ip', 'link', 'set', self.host_if, 'up')
            self.ns_run('ip', 'addr', 'add', f'{self.ns_ip}/30', 'dev', self.ns_if)
            self.ns_run('ip', 'link', 'set', self.ns_if, 'up')
            self.ns_run('ip', 'link', 'set', 'lo', 'up')
        except BaseException:
            self.close()
            raise

    @property
    def prefix(self):
        """Command prefix that runs a program inside the namespace (same PID)."""
        return ('ip', 'netns', 'exec', self.ns)

    def ns_run(self, *argv):
        return _run(*self.prefix, *argv)

    def limit(self, rate_bit_s, *, burst_bytes=3028, limit_bytes=8 << 20, host_side=False):
        """tbf on the namespace's egress (`host_side`: on this side's, towards the
        namespace): everything sent that way goes at `rate_bit_s`."""
        argv = ('tc', 'qdisc', 'replace', 'dev', self.host_if if host_side else self.ns_if,
                'root', 'tbf', 'rate', f'{int(rate_bit_s)}bit', 'burst', str(burst_bytes),
                'limit', str(limit_bytes))
        _run(*argv) if host_side else self.ns_run(*argv)

    def unlimit(self):
        subprocess.run([*self.prefix, 'tc', 'qdisc', 'del', 'dev', self.ns_if, 'root'],
                       capture_output=True)
        subprocess.run(['tc', 'qdisc', 'del', 'dev', self.host_if, 'root'], capture_output=True)

    def close(self):
        for argv in reversed(self._made):
            subprocess.run(argv, capture_output=True)
        self._made = []
