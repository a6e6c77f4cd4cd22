/* Per-thread scheduler accounting of the traced processes, from kernel tracepoints
 * only (no uprobe per message): time on CPU, waiting in the runqueue and blocked,
 * voluntary/involuntary context switches and user page faults, cumulative per
 * thread. The receive path (subscriber.c) takes a snapshot at the start and end of
 * each span and splits the span by the difference.
 *
 * Threads of traced subscribers and of traced publishers (publisher.c splits the
 * outgoing queue by its sending thread's state) are accounted.
 * Cost: sched_switch, sched_waking and page_fault_user fire for every task on the
 * machine; for tasks outside the traced processes (or traced without the split:
 * TGID_NO_SCHED, the overhead budget's reduced modes) each hit is one or two loads
 * from the id filters (common.c), a hash lookup only where a filter byte is set.
 * State of a switched-out task, from prev_state (kernel/sched, trace/events/sched.h):
 * 0 or TASK_REPORT_MAX (preempted) means still runnable; anything else blocked. */
#define THREAD_RUNNING 0
#define THREAD_RUNNABLE 1
#define THREAD_BLOCKED 2

struct thread_acct {
    u64 since_ns;           /* start of the current state */
    u32 state;
    u32 pad;
    u64 oncpu_ns;
    u64 runq_ns;
    u64 blocked_ns;
    u64 vol_cs;
    u64 invol_cs;
    u64 faults;
    u64 call_pending;       /* a service call of this thread ends when it runs (services.c) */
};

/* A snapshot of a thread's counters with the current state's time folded in. */
struct acct_snap {
    u64 oncpu_ns;
    u64 runq_ns;
    u64 blocked_ns;
    u64 vol_cs;
    u64 invol_cs;
    u64 faults;
};

BPF_TABLE("lru_hash", u32, struct thread_acct, threads, 65536);

static __always_inline void client_call_resumed(u32 tid, u64 now);   /* services.c */

static __always_inline struct thread_acct *thread_of(u32 tid, u64 now, u32 state)
{
    struct thread_acct init = {.since_ns = now, .state = state};
    struct thread_acct *a = threads.lookup_or_try_init(&tid, &init);
    if (a)
        tid_mark(tid);
    return a;
}

/* A thread's counters when sched.c may hold them: tid_filter first (most switches and
 * wake-ups on a machine are of untraced threads), then the map. */
static __always_inline struct thread_acct *thread_if_known(u32 tid)
{
    return tid_maybe(tid) ? threads.lookup(&tid) : 0;
}

static __always_inline void snapshot(u32 tid, u64 now, struct acct_snap *s)
{
    struct thread_acct *a = threads.lookup(&tid);
    if (!a) {
        a = thread_of(tid, now, THREAD_RUNNING);
        if (!a)
            return;
    }
    u64 partial = now > a->since_ns ? now - a->since_ns : 0;
    s->oncpu_ns = a->oncpu_ns + (a->state == THREAD_RUNNING ? partial : 0);
    s->runq_ns = a->runq_ns + (a->state == THREAD_RUNNABLE ? partial : 0);
    s->blocked_ns = a->blocked_ns + (a->state == THREAD_BLOCKED ? partial : 0);
    s->vol_cs = a->vol_cs;
    s->invol_cs = a->invol_cs;
    s->faults = a->faults;
}

/* The scheduler's tracepoints name threads by their kernel ids; in a PID namespace
 * (common.c) a thread's id there is learnt when it is switched out (it is current). */
#ifdef PIDNS_INO
BPF_TABLE("lru_hash", u32, u32, ns_tids, 65536);
static __always_inline u32 ns_tid(u32 kernel_tid)
{
    u32 *tid = ns_tids.lookup(&kernel_tid);
    return tid ? *tid : 0;
}
#else
#define ns_tid(kernel_tid) (kernel_tid)
#endif

#ifndef NO_TP_SCHED          /* features.py TRACEPOINTS: not in this kernel */
TRACEPOINT_PROBE(sched, sched_switch)
{
    u64 now = bpf_ktime_get_ns();
    u64 id = current_pid_tgid();
    u32 tgid = id >> 32;
    u32 prev = (u32)id, next = ns_tid(args->next_pid);
    bool account = false;
    if (tgid_maybe(tgid)) {
        u8 *flags = traced_tgids.lookup(&tgid);
        account = flags ? !(*flags & TGID_NO_SCHED) : publisher_tgids.lookup(&tgid) != 0;
    }
#ifdef PIDNS_INO
    if (account) {
        u32 kernel_tid = args->prev_pid;
        ns_tids.update(&kernel_tid, &prev);
    }
#endif
    if (account) {
        struct thread_acct *a = thread_of(prev, now, THREAD_RUNNING);
        if (a) {
            if (a->state == THREAD_RUNNING)
                a->oncpu_ns += delta(now, a->since_ns);
            if ((args->prev_state & 0xff) == 0) {
                a->state = THREAD_RUNNABLE;
                a->invol_cs++;
            } else {
                a->state = THREAD_BLOCKED;
                a->vol_cs++;
            }
            a->since_ns = now;
        }
    }
    struct thread_acct *n = thread_if_known(next);
    if (n) {
        if (n->state == THREAD_RUNNABLE)
            n->runq_ns += delta(now, n->since_ns);
        else if (n->state == THREAD_BLOCKED)
            n->blocked_ns += delta(now, n->since_ns);
        n->state = THREAD_RUNNING;
        n->since_ns = now;
        if (n->call_pending) {
            n->call_pending = 0;
            client_call_resumed(next, now);
        }
    }
    return 0;
}
#endif

#ifndef NO_TP_SCHED          /* features.py TRACEPOINTS: not in this kernel */
TRACEPOINT_PROBE(sched, sched_waking)
{
    u64 now = bpf_ktime_get_ns();
    u32 pid = ns_tid(args->pid);
    struct thread_acct *a = thread_if_known(pid);
    if (a && a->state == THREAD_BLOCKED) {
        a->blocked_ns += delta(now, a->since_ns);
        a->state = THREAD_RUNNABLE;
        a->since_ns = now;
    }
    return 0;
}
#endif

#ifndef NO_TP_PAGE_FAULT          /* features.py TRACEPOINTS: not in this kernel */
TRACEPOINT_PROBE(exceptions, page_fault_user)
{
    u64 id = current_pid_tgid();
    u32 tgid = id >> 32, tid = (u32)id;
    if (!tgid_maybe(tgid))
        return 0;
    u8 *flags = traced_tgids.lookup(&tgid);
    if (!flags || (*flags & TGID_NO_SCHED))
        return 0;
    struct thread_acct *a = thread_of(tid, bpf_ktime_get_ns(), THREAD_RUNNING);
    if (a)
        a->faults++;
    return 0;
}
#endif
