"""CPU, memory and statistics helpers of the benchmarks."""
import glob
import os
import platform
import statistics
import subprocess


def cpu_ns(pid):
    """CPU time of every thread of `pid` so far (ns), from schedstat (not 10 ms ticks)."""
    total = 0
    for path in glob.glob(f'/proc/{pid}/task/*/schedstat'):
        try:
            with open(path) as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return total


def rss_kib(pid):
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def spread(values):
    """{'median', 'min', 'max', 'n'} of a list of numbers."""
    return {'median': statistics.median(values), 'min': min(values), 'max': max(values),
            'n': len(values)}


def fmt(s, unit='', digits=1):
    return (f'{s["median"]:.{digits}f}{unit} ({s["min"]:.{digits}f}–{s["max"]:.{digits}f})'
            if s else 'n/a')


def machine():
    model = ''
    try:
        with open('/proc/cpuinfo') as f:
            model = next((line.split(':', 1)[1].strip() for line in f
                          if line.startswith('model name')), '')
    except OSError:
        pass
    try:
        bcc = subprocess.run(['dpkg-query', '-W', '-f=${Version}', 'python3-bpfcc'],
                             capture_output=True, text=True).stdout
    except OSError:
        bcc = ''
    return {'kernel': platform.release(), 'cpus': os.cpu_count(), 'cpu_model': model,
            'python': platform.python_version(), 'bcc': bcc,
            'os': platform.freedesktop_os_release().get('PRETTY_NAME', '')
            if hasattr(platform, 'freedesktop_os_release') else ''}


class BpfStats:
    """kernel.bpf_stats_enabled set to 1 inside the block, its old value restored."""
    PATH = '/proc/sys/kernel/bpf_stats_enabled'

    def __enter__(self):
        with open(self.PATH) as f:
            self.old = f.read().strip()
        with open(self.PATH, 'w') as f:
            f.write('1')
        return self

    def __exit__(self, *exc):
        with open(self.PATH, 'w') as f:
            f.write(self.old)
