"""What tracing needs from this machine, checked before anything is attached."""
import os

from ..errors import NotPrivileged, SystemNotReady
from ..probes.program import load_bcc
from .features import TRACEFS

CAP_SYS_ADMIN, CAP_PERFMON, CAP_BPF = 21, 38, 39


def effective_caps(status_text):
    for line in status_text.splitlines():
        if line.startswith('CapEff:'):
            return int(line.split()[1], 16)
    return 0


def has_tracing_caps(caps):
    """CAP_BPF + CAP_PERFMON (kernel >= 5.8), or CAP_SYS_ADMIN. [pure]"""
    bit = lambda n: bool(caps >> n & 1)  # noqa: E731
    return bit(CAP_SYS_ADMIN) or (bit(CAP_BPF) and bit(CAP_PERFMON))


def check_privileges(command='rostrace'):
    with open('/proc/self/status') as f:
        caps = effective_caps(f.read())
    if os.geteuid() != 0 and not has_tracing_caps(caps):
        raise NotPrivileged('attaching uprobes needs root (CAP_BPF and CAP_PERFMON)',
                            hint=f'try: sudo -E {command}   (-E keeps ROS_MASTER_URI)')


def check_kernel(tracefs=TRACEFS):
    if not os.path.exists(os.path.join(tracefs, 'uprobe_events')):
        if not os.path.isdir(tracefs) or not os.listdir(tracefs):
            raise SystemNotReady(f'tracefs is not mounted at {tracefs}',
                                 hint=f'mount -t tracefs tracefs {tracefs}   (or: make setup)')
        raise SystemNotReady('this kernel has no uprobe support (CONFIG_UPROBE_EVENTS)',
                             hint='rostrace needs a kernel built with uprobes')


def check_bcc():
    load_bcc()


def check_all(command='rostrace'):
    """Raise the first problem found, with its fix; nothing is changed."""
    check_privileges(command)
    check_kernel()
    check_bcc()
