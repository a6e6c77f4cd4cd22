/* Real-time audit of targets marked critical: malloc() calls (operator new ends there)
 * and syscalls by number made inside a user callback, i.e. after roscpp's own
 * deserialization (which allocates the message) returned.
 * Cost: one uprobe entry per malloc() anywhere in an audited process, and one
 * raw_syscalls:sys_enter hit per syscall on the machine while anything is audited
 * (user space attaches that tracepoint only then). */

int on_malloc(struct pt_regs *ctx)
{
    struct call_ctx *cc = callback_of((u32)current_pid_tgid());
    if (cc)
        cc->allocs++;
    return 0;
}

#ifndef NO_TP_SYS_ENTER          /* features.py TRACEPOINTS: not in this kernel */
TRACEPOINT_PROBE(raw_syscalls, sys_enter)
{
    u64 id = current_pid_tgid();
    u32 tgid = id >> 32, tid = (u32)id;
    if (!tgid_maybe(tgid) || !audited_tgids.lookup(&tgid))
        return 0;
    if (args->id == URETPROBE_SYSCALL)
        return 0;       /* our own uretprobes return through this syscall (>= 6.11) */
    struct call_ctx *cc = callback_of(tid);
    if (!cc)
        return 0;
    cc->syscalls++;
    record(tgid, cc->queue, SYSCALL_BASE + (u32)args->id, 1);
    return 0;
}
#endif
