"""The simplest useful tracer, for comparison (bench section 11): 4 uprobe hits per
processed message on the same libroscpp functions rostrace probes -- push entry,
deserialize entry and return, call return -- each only counted into a per-CPU array (no
argument read, no map keyed by anything). What remains of its cost is the kernel's trap:
the floor any uprobe tracer pays."""
import ctypes

import bcc

from rostrace.system.symbols import find_probe_points

PROGRAM = b'''
BPF_PERCPU_ARRAY(hits, u64, 1);
static __always_inline int count(void)
{
    int zero = 0;
    u64 *n = hits.lookup(&zero);
    if (n)
        (*n)++;
    return 0;
}
int on_hit(struct pt_regs *ctx) { return count(); }
'''
# (probe point, entry?)
POINTS = (('queue_push', True), ('deserialize', True), ('deserialize', False),
          ('queue_call', False))


class MinimalTracer:
    def __init__(self):
        self.bpf = bcc.BPF(text=PROGRAM)

    def attach(self, pid, library):
        found, _ = find_probe_points(library)
        for name, entry in POINTS:
            attach = self.bpf.attach_uprobe if entry else self.bpf.attach_uretprobe
            attach(name=library.encode(), addr=found[name].address, fn_name=b'on_hit', pid=pid)

    def detach(self, pid, library):
        found, _ = find_probe_points(library)
        for name, entry in POINTS:
            detach = self.bpf.detach_uprobe if entry else self.bpf.detach_uretprobe
            detach(name=library.encode(), addr=found[name].address, pid=pid)

    def hits(self):
        return sum(self.bpf[b'hits'].getvalue(ctypes.c_int(0)))

    def close(self):
        self.bpf.cleanup()
