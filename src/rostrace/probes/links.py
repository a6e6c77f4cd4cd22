"""Uprobes as BPF links (BPF_TRACE_UPROBE_MULTI, Linux >= 6.6), created with the bpf()
syscall: BCC 0.26 attaches uprobes only as perf events.

Why: closing a perf-event uprobe waits for RCU grace periods under a global mutex
(~0.1 s each, one after the other: ~0.65 s per node, ~65 s for 100 nodes), while links
close concurrently (60 links in 0.08 s here). A link with a PID puts its breakpoint
into that process only, like BCC's per-PID attach. Older kernels keep BCC's way.
"""
import ctypes
import os
import platform

BPF_LINK_CREATE = 28                # enum bpf_cmd
BPF_TRACE_UPROBE_MULTI = 48         # enum bpf_attach_type (include/uapi/linux/bpf.h, 6.6)
BPF_F_UPROBE_MULTI_RETURN = 1
SYS_BPF = {'x86_64': 321, 'aarch64': 280}.get(platform.machine())


class _LinkCreateUprobeMulti(ctypes.Structure):
    """union bpf_attr, as BPF_LINK_CREATE reads it for uprobe_multi (zero tail)."""
    _fields_ = [('prog_fd', ctypes.c_uint32), ('target_fd', ctypes.c_uint32),
                ('attach_type', ctypes.c_uint32), ('flags', ctypes.c_uint32),
                ('path', ctypes.c_uint64), ('offsets', ctypes.c_uint64),
                ('ref_ctr_offsets', ctypes.c_uint64), ('cookies', ctypes.c_uint64),
                ('cnt', ctypes.c_uint32), ('multi_flags', ctypes.c_uint32),
                ('pid', ctypes.c_uint32), ('_tail', ctypes.c_uint8 * 84)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def bpf_call(cmd, attr):
    """bpf(cmd, &attr): the result, or -errno (-ENOSYS where the syscall is unknown)."""
    if SYS_BPF is None:
        return -38
    ret = _libc.syscall(SYS_BPF, cmd, ctypes.byref(attr), ctypes.sizeof(attr))
    return ret if ret >= 0 else -ctypes.get_errno()


def uprobe_link(prog_fd, path, offset, pid, *, is_return=False):
    """File descriptor of a link running program `prog_fd` (loaded with
    expected_attach_type BPF_TRACE_UPROBE_MULTI) at file `offset` of the ELF at `path`,
    in process `pid` only; OSError when the kernel refuses."""
    if SYS_BPF is None:
        raise OSError(38, f'bpf() syscall number unknown on {platform.machine()}')
    path_buf = ctypes.create_string_buffer(os.fsencode(path))
    offsets = (ctypes.c_uint64 * 1)(offset)
    attr = _LinkCreateUprobeMulti(
        prog_fd=prog_fd, attach_type=BPF_TRACE_UPROBE_MULTI,
        path=ctypes.addressof(path_buf), offsets=ctypes.addressof(offsets), cnt=1,
        multi_flags=BPF_F_UPROBE_MULTI_RETURN if is_return else 0, pid=pid)
    fd = _libc.syscall(SYS_BPF, BPF_LINK_CREATE, ctypes.byref(attr), ctypes.sizeof(attr))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, f'uprobe link at {path}+{offset:#x} in pid {pid}: '
                      f'{os.strerror(err)}')
    return fd


BPF_ENABLE_STATS = 32               # enum bpf_cmd (Linux >= 5.8)
BPF_STATS_RUN_TIME = 0


def enable_run_time_stats():
    """A file descriptor that keeps the kernel timing every BPF program run (run_time_ns,
    run_cnt in /proc/self/fdinfo of a program) while it is open: one clock read on
    each side of every run of every program. OSError when the kernel refuses."""
    if SYS_BPF is None:
        raise OSError(38, f'bpf() syscall number unknown on {platform.machine()}')
    attr = (ctypes.c_uint32 * 32)(BPF_STATS_RUN_TIME)
    fd = _libc.syscall(SYS_BPF, BPF_ENABLE_STATS, ctypes.byref(attr), ctypes.sizeof(attr))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, f'BPF_ENABLE_STATS: {os.strerror(err)}')
    return fd
