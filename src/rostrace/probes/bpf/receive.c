/* roscpp subscriber receive path, per topic (= per SubscriptionQueue).
 *
 * Probe hits one received message costs (attached per PID, never system-wide):
 *   poll thread    SubscriptionQueue::push             entry + return
 *                  (queuing starts; *was_full read at return counts drops)
 *   spinner thread SubscriptionQueue::call             entry + return
 *                  (queuing ends; call span = deserialization + processing)
 *   spinner thread MessageDeserializer::deserialize    entry + return
 *                  (pairs the call with its push by the deserializer pointer;
 *                   deserialization span)
 * = 3 uprobe entries + 3 uretprobe returns per message. A message dropped by a
 * full queue costs the push pair only.
 *
 * Pairing is by (process, queue, MessageDeserializer*) -- one message, one
 * deserializer object -- never by arrival order, so several queues, several
 * spinner threads, drops and messages queued before tracing began stay correct.
 * Limits: per-thread state is one call deep, so a callback that itself spins a
 * queue (ros::spinOnce inside a callback) loses the outer call's sample; min/max
 * are updated without atomics and may miss a sample racing on another CPU.
 * Scheduler splits (below) add no uprobe: the handlers above snapshot the
 * thread counters kept by the sched/page-fault tracepoints. The real-time audit
 * (critical targets only) adds one uprobe entry per malloc() anywhere in the process
 * and a raw_syscalls:sys_enter hit per syscall of an audited process.
 *
 * Across processes (publisher side, per PID as well):
 *   publishing thread TopicManager::publish             entry (hand-off to roscpp)
 *                     Publication::publish              entry (serialized buffer ready)
 *   = 2 uprobe entries per published message, whatever the number of subscribers.
 *   The moment a message leaves a connection's outgoing queue is its first send()
 *   on that socket (syscalls:sys_enter_sendto, buffer == the message's buffer): no
 *   uprobe. The subscriber side finds the socket of a received message by the
 *   buffer its first recv() filled (syscalls:sys_enter_recvfrom) and adds nothing to
 *   the receive path's probes. One ring-buffer event per sent message and socket and
 *   one per processed message carry timestamps and a content fingerprint; user space
 *   matches them per TCP connection (rostrace/transport.py).
 * See clients/roscpp/src/libros/subscription_queue.cpp, topic_manager.cpp,
 * publication.cpp, transport_subscriber_link.cpp, connection.cpp (ros_comm 1.15). */
#include <uapi/linux/ptrace.h>
#include "rostrace.h"

/* ---- (In this file, not a header: BCC rewrites map calls and generates tracepoint
 * argument structs only in the main source file.)
 * Per-thread scheduler accounting of the traced processes, from kernel tracepoints
 * only (no uprobe per message): time on CPU, waiting in the runqueue and blocked,
 * voluntary/involuntary context switches and user page faults, cumulative per
 * thread. The receive path takes a snapshot at the start and end of each span and
 * splits it by the difference.
 *
 * Cost: sched_switch, sched_waking and page_fault_user fire for every task on the
 * machine; for tasks outside the traced processes each hit is one hash lookup.
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

BPF_HASH(traced_tgids, u32, u8, 4096);             /* set by user space on attach */
BPF_TABLE("lru_hash", u32, struct thread_acct, threads, 65536);

static __always_inline struct thread_acct *thread_of(u32 tid, u64 now, u32 state)
{
    struct thread_acct init = {.since_ns = now, .state = state};
    return threads.lookup_or_try_init(&tid, &init);
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

static __always_inline u64 delta(u64 end, u64 start)
{
    return end > start ? end - start : 0;
}


/* calib[0]: cost of one entry+return probe pair as seen from outside it (ns);
 * calib[1]: part of that pair which falls inside the span it measures (ns). */
BPF_ARRAY(calib, u64, 2);
BPF_ARRAY(generation, u32, 1);
BPF_HASH(stats0, struct stat_key, struct stat_val, STAT_ENTRIES);
BPF_HASH(stats1, struct stat_key, struct stat_val, STAT_ENTRIES);
BPF_HASH(hist0, struct hist_key, u64, HIST_ENTRIES);
BPF_HASH(hist1, struct hist_key, u64, HIST_ENTRIES);

struct queue_key {
    u32 tgid;
    u32 pad;
    u64 queue;
};

/* ---- Across processes: what a received message carries to its transport event. */
#define FP_HEAD 24
#define KIND_TCP 1              /* arrived through a TCP socket (fd known) */
#define KIND_INTRA 2            /* delivered inside the publishing process */
#define EVENT_SENT 1
#define EVENT_RECEIVED 2

/* Identifies a message's bytes across processes: its length, first FP_HEAD bytes
 * (only min(len, FP_HEAD) of them count) and last 8 bytes (when len >= FP_HEAD + 8). */
struct fingerprint {
    u32 len;
    u32 pad;
    u64 hash;               /* FNV-1a of the bytes that count, computed here */
    u8 head[FP_HEAD];
    u8 tail[8];
};

struct origin {
    u32 kind;
    u32 fd;
    u64 t_publish;          /* intra-process: the publisher's hand-off, 0 unknown */
    u64 publication;        /* intra-process, serialized: the Publication* */
    struct fingerprint fp;
};

struct xfer_event {
    u32 type;               /* EVENT_SENT / EVENT_RECEIVED */
    u32 tgid;
    u32 fd;                 /* the socket, or 0 (intra-process) */
    u32 kind;               /* received: KIND_* */
    u64 object;             /* received: SubscriptionQueue* */
    u64 publication;        /* sent, and received intra-process when known: Publication* */
    u64 seq;                /* sent: message number of the publication */
    u64 dropped;            /* sent: messages this socket's outgoing queue dropped since */
    u64 t_publish;          /* hand-off to roscpp (TopicManager::publish entry), 0 unknown */
    u64 t_serialized;       /* sent: Publication::publish entry */
    u64 t_sent;             /* sent: first send() of the message on this socket */
    u64 t_received;         /* received: SubscriptionQueue::push */
    u64 t_done;             /* received: end of SubscriptionQueue::call (the callback) */
    struct fingerprint fp;
};

BPF_RINGBUF_OUTPUT(xfer_events, 1024);       /* pages: 4 MiB */
BPF_ARRAY(xfer_lost, u64, 1);                /* events the full ring buffer refused */

struct buf_key {
    u32 tgid;
    u32 pad;
    u64 buf;
};

/* A serialized message of a traced publisher, by its buffer (the same buffer is
 * written to every subscriber's socket). LRU: entries of freed buffers age out. */
struct pub_msg {
    u64 t_publish;
    u64 t_serialized;
    u64 publication;
    u64 seq;
    u64 len;                /* bytes including roscpp's 4-byte length prefix */
};

struct sock_key {
    u32 tgid;
    u32 fd;
};

struct sock_state {
    u64 publication;
    u64 last_seq;
};

BPF_HASH(publisher_tgids, u32, u8, 4096);           /* set by user space on attach */
BPF_TABLE("lru_hash", u32, u64, publish_start, 16384);   /* tid -> hand-off time */
BPF_TABLE("lru_hash", struct queue_key, u64, publication_seq, STAT_ENTRIES);
BPF_TABLE("lru_hash", struct buf_key, struct pub_msg, pub_msgs, 65536);
BPF_TABLE("lru_hash", struct sock_key, struct sock_state, sock_states, 16384);
BPF_TABLE("lru_hash", struct buf_key, u32, recv_bufs, 65536);  /* recv() buffer -> fd */

static __always_inline void fingerprint(struct fingerprint *fp, u64 data, u64 len)
{
    fp->len = (u32)len;
    u32 n = len < FP_HEAD ? (u32)len : FP_HEAD;
    if (n > 0 && n <= FP_HEAD)
        bpf_probe_read_user(fp->head, n, (void *)data);
    if (len >= FP_HEAD + 8)
        bpf_probe_read_user(fp->tail, 8, (void *)(data + len - 8));
    u64 h = 14695981039346656037ULL ^ len;
#pragma unroll
    for (int i = 0; i < FP_HEAD; i++) {
        if (i < n)
            h = (h ^ fp->head[i]) * 1099511628211ULL;
    }
#pragma unroll
    for (int i = 0; i < 8; i++)
        h = (h ^ fp->tail[i]) * 1099511628211ULL;  /* zero when not read */
    fp->hash = h;
}

static __always_inline void lost_event(void)
{
    u32 zero = 0;
    u64 *n = xfer_lost.lookup(&zero);
    if (n)
        __sync_fetch_and_add(n, 1);
}

struct msg_key {
    u32 tgid;
    u32 pad;
    u64 queue;
    u64 deserializer;
};

struct push_ctx {
    u64 queue;
    u64 was_full;           /* bool* out-parameter of push() */
};

struct call_ctx {
    u64 queue;
    u64 start_ns;
    u64 push_ns;            /* 0: message pushed before tracing began */
    u64 deser_start_ns;
    u64 deser_ns;
    struct acct_snap start; /* the spinner thread's counters when call() began */
    u64 q_busy_ns;          /* queuing split, valid when q_split */
    u64 q_starved_ns;
    u64 q_idle_ns;
    u64 q_split;
    u64 allocs;
    u64 syscalls;
    u64 in_callback;        /* deserialize() returned: the user callback runs now */
    struct origin origin;
};

/* A pushed message: when, and the counters of the thread that served its queue last
 * (the spinner that will most likely serve it) at that moment. */
struct pending_msg {
    u64 push_ns;
    u32 server_tid;
    u32 has_server;
    struct acct_snap server;
    struct origin origin;   /* where the message came from (transport events) */
};


/* Messages pushed and not yet served. LRU: entries of dropped messages age out. */
BPF_TABLE("lru_hash", struct msg_key, struct pending_msg, pending, PENDING_ENTRIES);
BPF_HASH(queue_server, struct queue_key, u32, STAT_ENTRIES);
BPF_HASH(process_server, u32, u32, 4096);    /* tgid -> thread of the last call() */
BPF_HASH(audited_tgids, u32, u8, 1024);
BPF_HASH(push_by_tid, u32, struct push_ctx, 16384);
BPF_HASH(call_by_tid, u32, struct call_ctx, 16384);

/* Probe hits per handler, so the cost per message is counted rather than assumed
 * (read by the benchmarks; one per-CPU increment per hit). */
BPF_PERCPU_ARRAY(hits, u64, 12);

static __always_inline void count_hit(u32 handler)
{
    u64 *n = hits.lookup(&handler);
    if (n)
        (*n)++;
}

static __always_inline void record(u32 tgid, u64 queue, u32 stage, u64 value_ns)
{
    u32 zero = 0;
    u32 *gen = generation.lookup(&zero);
    u32 g = gen ? *gen : 0;
    struct stat_key sk = {.tgid = tgid, .stage = stage, .queue = queue};
    struct stat_val init = {.count = 0, .sum_ns = 0, .min_ns = value_ns, .max_ns = value_ns};
    struct stat_val *s = g ? stats1.lookup_or_try_init(&sk, &init)
                           : stats0.lookup_or_try_init(&sk, &init);
    if (!s)
        return;
    __sync_fetch_and_add(&s->count, 1);
    __sync_fetch_and_add(&s->sum_ns, value_ns);
    if (value_ns < s->min_ns)
        s->min_ns = value_ns;   /* racy across CPUs: min/max may miss a concurrent sample */
    if (value_ns > s->max_ns)
        s->max_ns = value_ns;
    if (!HAS_HISTOGRAM(stage))
        return;                 /* plain counters and sums have no histogram */
    struct hist_key hk = {.tgid = tgid, .stage = stage, .queue = queue,
                          .bucket = bucket_of(value_ns)};
    u64 one = 0;
    u64 *c = g ? hist1.lookup_or_try_init(&hk, &one) : hist0.lookup_or_try_init(&hk, &one);
    if (c)
        __sync_fetch_and_add(c, 1);
}

static __always_inline u64 calib_ns(u32 index)
{
    u64 *v = calib.lookup(&index);
    return v ? *v : 0;
}

int on_subscription_queue_push(struct pt_regs *ctx)
{
    count_hit(0);
    u64 now = bpf_ktime_get_ns();
    u64 id = bpf_get_current_pid_tgid();
    u32 tgid = id >> 32, tid = (u32)id;
    /* push(this, helper&, const MessageDeserializerPtr& deserializer, bool, weak_ptr&,
     *      bool, ros::Time receipt_time, bool* was_full): the last two on the stack. */
    struct msg_key mk = {.tgid = tgid, .queue = PT_REGS_PARM1(ctx)};
    bpf_probe_read_user(&mk.deserializer, sizeof(mk.deserializer), (void *)PT_REGS_PARM3(ctx));
    struct pending_msg pm = {.push_ns = now};
    struct queue_key qk = {.tgid = tgid, .queue = mk.queue};
    u32 *server = queue_server.lookup(&qk);
    if (!server)
        server = process_server.lookup(&tgid);   /* queue not served yet: best guess */
    if (server) {
        pm.server_tid = *server;
        pm.has_server = 1;
        snapshot(*server, now, &pm.server);
    }
    /* Where it came from: MessageDeserializer { helper_ (shared_ptr, 16 bytes);
     * SerializedMessage serialized_message_ { shared_array buf; size_t num_bytes; ...}} */
    u64 sm[3] = {};
    bpf_probe_read_user(sm, sizeof(sm), (void *)(mk.deserializer + 16));
    if (sm[0]) {
        struct buf_key bk = {.tgid = tgid, .buf = sm[0]};
        u32 *fd = recv_bufs.lookup(&bk);
        if (fd) {
            pm.origin.kind = KIND_TCP;
            pm.origin.fd = *fd;
            fingerprint(&pm.origin.fp, sm[0], sm[2]);
        } else {
            struct pub_msg *own = pub_msgs.lookup(&bk);   /* our own publisher's buffer */
            if (own) {
                pm.origin.kind = KIND_INTRA;
                pm.origin.t_publish = own->t_publish;
                pm.origin.publication = own->publication;
            }
        }
    } else {
        /* No bytes: a no-copy intra-process delivery, pushed by the publishing thread
         * inside TopicManager::publish. */
        pm.origin.kind = KIND_INTRA;
        u64 *start = publish_start.lookup(&tid);
        if (start)
            pm.origin.t_publish = *start;
    }
    pending.update(&mk, &pm);
    struct push_ctx pc = {.queue = mk.queue};
    bpf_probe_read_user(&pc.was_full, sizeof(pc.was_full), (void *)(PT_REGS_SP(ctx) + 16));
    push_by_tid.update(&tid, &pc);
    record(tgid, mk.queue, COUNT_RECEIVED, 1);
    return 0;
}

int on_subscription_queue_push_return(struct pt_regs *ctx)
{
    count_hit(1);
    u64 id = bpf_get_current_pid_tgid();
    u32 tid = (u32)id;
    struct push_ctx *pc = push_by_tid.lookup(&tid);
    if (!pc)
        return 0;
    u8 was_full = 0;
    if (pc->was_full)
        bpf_probe_read_user(&was_full, 1, (void *)pc->was_full);
    if (was_full)
        record(id >> 32, pc->queue, COUNT_DROPPED, 1);
    push_by_tid.delete(&tid);
    return 0;
}

int on_subscription_queue_call(struct pt_regs *ctx)
{
    count_hit(2);
    u64 now = bpf_ktime_get_ns();
    u64 id = bpf_get_current_pid_tgid();
    u32 tid = (u32)id;
    struct call_ctx cc = {.queue = PT_REGS_PARM1(ctx), .start_ns = now};
    snapshot(tid, now, &cc.start);
    call_by_tid.update(&tid, &cc);
    u32 tgid = id >> 32;
    struct queue_key qk = {.tgid = tgid, .queue = cc.queue};
    queue_server.update(&qk, &tid);
    process_server.update(&tgid, &tid);
    return 0;
}

int on_message_deserializer_deserialize(struct pt_regs *ctx)
{
    count_hit(3);
    u64 now = bpf_ktime_get_ns();
    u64 id = bpf_get_current_pid_tgid();
    u32 tid = (u32)id;
    struct call_ctx *cc = call_by_tid.lookup(&tid);
    if (!cc)
        return 0;
    /* deserialize() returns a boost::shared_ptr by value: the hidden return slot
     * is the first argument, `this` the second. */
    struct msg_key mk = {.tgid = id >> 32, .queue = cc->queue,
                         .deserializer = PT_REGS_PARM2(ctx)};
    struct pending_msg *pm = pending.lookup(&mk);
    if (pm) {
        cc->push_ns = pm->push_ns;
        cc->origin = pm->origin;
        if (pm->has_server && pm->server_tid == tid) {
            /* The thread that serves it now is the one watched since the push. */
            cc->q_busy_ns = delta(cc->start.oncpu_ns, pm->server.oncpu_ns);
            cc->q_starved_ns = delta(cc->start.runq_ns, pm->server.runq_ns);
            cc->q_idle_ns = delta(cc->start.blocked_ns, pm->server.blocked_ns);
            cc->q_split = 1;
        }
        pending.delete(&mk);
    }
    cc->deser_start_ns = now;
    return 0;
}

int on_message_deserializer_deserialize_return(struct pt_regs *ctx)
{
    count_hit(4);
    u64 now = bpf_ktime_get_ns();
    u32 tid = (u32)bpf_get_current_pid_tgid();
    struct call_ctx *cc = call_by_tid.lookup(&tid);
    if (cc && cc->deser_start_ns) {
        cc->deser_ns = now - cc->deser_start_ns;
        cc->in_callback = 1;
    }
    return 0;
}

int on_subscription_queue_call_return(struct pt_regs *ctx)
{
    count_hit(5);
    u64 now = bpf_ktime_get_ns();
    u64 id = bpf_get_current_pid_tgid();
    u32 tgid = id >> 32, tid = (u32)id;
    struct call_ctx *ccp = call_by_tid.lookup(&tid);
    if (!ccp)
        return 0;
    struct call_ctx cc = *ccp;
    call_by_tid.delete(&tid);
    if (!cc.deser_start_ns)
        return 0;               /* TryAgain / Invalid: no message was served */
    u64 pair_ns = calib_ns(0), inner_ns = calib_ns(1);
    /* The deserialize pair's own cost lies inside the call span: remove it. */
    u64 deser_ns = cc.deser_ns > inner_ns ? cc.deser_ns - inner_ns : 0;
    u64 call_ns = now - cc.start_ns;
    u64 outside = cc.deser_ns + pair_ns - inner_ns;
    u64 processing_ns = call_ns > outside + inner_ns ? call_ns - outside - inner_ns : 0;
    record(tgid, cc.queue, COUNT_PROCESSED, 1);
    record(tgid, cc.queue, STAGE_DESERIALIZATION, deser_ns);
    record(tgid, cc.queue, STAGE_PROCESSING, processing_ns);
    if (cc.push_ns && cc.start_ns > cc.push_ns) {
        u64 queuing_ns = cc.start_ns - cc.push_ns;
        record(tgid, cc.queue, STAGE_QUEUING, queuing_ns);
        record(tgid, cc.queue, STAGE_TOTAL, queuing_ns + deser_ns + processing_ns);
        if (cc.q_split) {
            record(tgid, cc.queue, STAGE_QUEUING_BUSY, cc.q_busy_ns);
            record(tgid, cc.queue, STAGE_QUEUING_STARVED, cc.q_starved_ns);
            record(tgid, cc.queue, STAGE_QUEUING_IDLE, cc.q_idle_ns);
        }
    }
    if (cc.origin.kind && cc.push_ns) {
        struct xfer_event *e = xfer_events.ringbuf_reserve(sizeof(struct xfer_event));
        if (e) {
            __builtin_memset(e, 0, sizeof(*e));
            e->type = EVENT_RECEIVED;
            e->tgid = tgid;
            e->fd = cc.origin.fd;
            e->kind = cc.origin.kind;
            e->object = cc.queue;
            e->publication = cc.origin.publication;
            e->t_publish = cc.origin.t_publish;
            e->t_received = cc.push_ns;
            e->t_done = now;
            e->fp = cc.origin.fp;
            xfer_events.ringbuf_submit(e, 0);
        } else {
            lost_event();
        }
    }
    struct acct_snap end = {};
    snapshot(tid, now, &end);
    record(tgid, cc.queue, STAGE_PROCESSING_ONCPU, delta(end.oncpu_ns, cc.start.oncpu_ns));
    record(tgid, cc.queue, STAGE_PROCESSING_RUNQUEUE, delta(end.runq_ns, cc.start.runq_ns));
    record(tgid, cc.queue, STAGE_PROCESSING_BLOCKED,
           delta(end.blocked_ns, cc.start.blocked_ns));
    record(tgid, cc.queue, SUM_VOLUNTARY_CS, delta(end.vol_cs, cc.start.vol_cs));
    record(tgid, cc.queue, SUM_INVOLUNTARY_CS, delta(end.invol_cs, cc.start.invol_cs));
    record(tgid, cc.queue, SUM_PAGE_FAULTS, delta(end.faults, cc.start.faults));
    if (audited_tgids.lookup(&tgid)) {
        record(tgid, cc.queue, SUM_ALLOCATIONS, cc.allocs);
        record(tgid, cc.queue, SUM_SYSCALLS, cc.syscalls);
    }
    return 0;
}

/* Real-time audit: malloc() (operator new ends there too) inside a callback, i.e.
 * after roscpp's own deserialization (which allocates the message) returned. */
static __always_inline struct call_ctx *callback_of(u32 tid)
{
    struct call_ctx *cc = call_by_tid.lookup(&tid);
    return cc && cc->in_callback ? cc : 0;
}

int on_malloc(struct pt_regs *ctx)
{
    struct call_ctx *cc = callback_of((u32)bpf_get_current_pid_tgid());
    if (cc)
        cc->allocs++;
    return 0;
}

/* Real-time audit: every syscall a callback of an audited process makes, by number. */
TRACEPOINT_PROBE(raw_syscalls, sys_enter)
{
    u64 id = bpf_get_current_pid_tgid();
    u32 tgid = id >> 32, tid = (u32)id;
    if (!audited_tgids.lookup(&tgid))
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

/* Scheduler accounting of the traced processes' threads (see the top of the file). */
TRACEPOINT_PROBE(sched, sched_switch)
{
    u64 now = bpf_ktime_get_ns();
    u32 tgid = bpf_get_current_pid_tgid() >> 32;
    u32 prev = args->prev_pid, next = args->next_pid;
    if (traced_tgids.lookup(&tgid)) {
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
    struct thread_acct *n = threads.lookup(&next);
    if (n) {
        if (n->state == THREAD_RUNNABLE)
            n->runq_ns += delta(now, n->since_ns);
        else if (n->state == THREAD_BLOCKED)
            n->blocked_ns += delta(now, n->since_ns);
        n->state = THREAD_RUNNING;
        n->since_ns = now;
    }
    return 0;
}

TRACEPOINT_PROBE(sched, sched_waking)
{
    u64 now = bpf_ktime_get_ns();
    u32 pid = args->pid;
    struct thread_acct *a = threads.lookup(&pid);
    if (a && a->state == THREAD_BLOCKED) {
        a->blocked_ns += delta(now, a->since_ns);
        a->state = THREAD_RUNNABLE;
        a->since_ns = now;
    }
    return 0;
}

TRACEPOINT_PROBE(exceptions, page_fault_user)
{
    u64 id = bpf_get_current_pid_tgid();
    u32 tgid = id >> 32, tid = (u32)id;
    if (!traced_tgids.lookup(&tgid))
        return 0;
    struct thread_acct *a = thread_of(tid, bpf_ktime_get_ns(), THREAD_RUNNING);
    if (a)
        a->faults++;
    return 0;
}

/* ---- Publisher side (see the top of the file). */
int on_topic_manager_publish(struct pt_regs *ctx)
{
    count_hit(8);
    u64 now = bpf_ktime_get_ns();
    u32 tid = (u32)bpf_get_current_pid_tgid();
    publish_start.update(&tid, &now);
    return 0;
}

/* Publication::publish(this, SerializedMessage& m), called by TopicManager::publish
 * on the same thread once the message is serialized (m.buf is then set). */
int on_publication_publish(struct pt_regs *ctx)
{
    count_hit(9);
    u64 now = bpf_ktime_get_ns();
    u64 id = bpf_get_current_pid_tgid();
    u32 tgid = id >> 32, tid = (u32)id;
    u64 m[3] = {};          /* buf (shared_array: pointer, count), num_bytes */
    bpf_probe_read_user(m, sizeof(m), (void *)PT_REGS_PARM2(ctx));
    if (!m[0])
        return 0;           /* not serialized: no-copy intra-process subscribers only */
    struct queue_key qk = {.tgid = tgid, .queue = PT_REGS_PARM1(ctx)};
    u64 zero = 0;
    u64 *seq = publication_seq.lookup_or_try_init(&qk, &zero);
    if (!seq)
        return 0;
    *seq += 1;              /* TopicManager::publish holds advertised_topics_mutex_ */
    struct pub_msg pm = {.t_serialized = now, .publication = qk.queue, .seq = *seq,
                         .len = m[2]};
    u64 *start = publish_start.lookup(&tid);
    if (start && now >= *start && now - *start < 1000000000ULL) {
        pm.t_publish = *start;
        record(tgid, qk.queue, STAGE_SERIALIZATION, now - *start);
    }
    record(tgid, qk.queue, COUNT_PUBLISHED, 1);
    struct buf_key bk = {.tgid = tgid, .buf = m[0]};
    pub_msgs.update(&bk, &pm);
    return 0;
}

/* A traced publisher's first send() of a message on a socket: the message left that
 * connection's outgoing queue. Sequence numbers skipped on a socket were dropped from
 * its queue (TransportSubscriberLink::enqueueMessage tosses the oldest when full). */
TRACEPOINT_PROBE(syscalls, sys_enter_sendto)
{
    u64 id = bpf_get_current_pid_tgid();
    u32 tgid = id >> 32;
    if (!publisher_tgids.lookup(&tgid))
        return 0;
    struct buf_key bk = {.tgid = tgid, .buf = (u64)args->buff};
    struct pub_msg *pm = pub_msgs.lookup(&bk);
    if (!pm)
        return 0;           /* a header, or the rest of a partly written message */
    count_hit(10);
    u64 now = bpf_ktime_get_ns();
    struct sock_key sk = {.tgid = tgid, .fd = (u32)args->fd};
    struct sock_state *ss = sock_states.lookup(&sk);
    u64 dropped = 0;
    if (ss && ss->publication == pm->publication && pm->seq > ss->last_seq) {
        dropped = pm->seq - ss->last_seq - 1;
        ss->last_seq = pm->seq;
    } else if (!ss || ss->publication != pm->publication) {
        struct sock_state init = {.publication = pm->publication, .last_seq = pm->seq};
        sock_states.update(&sk, &init);
    }
    struct xfer_event *e = xfer_events.ringbuf_reserve(sizeof(struct xfer_event));
    if (!e) {
        lost_event();
        return 0;
    }
    __builtin_memset(e, 0, sizeof(*e));
    e->type = EVENT_SENT;
    e->tgid = tgid;
    e->fd = (u32)args->fd;
    e->publication = pm->publication;
    e->seq = pm->seq;
    e->dropped = dropped;
    e->t_publish = pm->t_publish;
    e->t_serialized = pm->t_serialized;
    e->t_sent = now;
    if (pm->len > 4)
        fingerprint(&e->fp, bk.buf + 4, pm->len - 4);   /* after the length prefix */
    xfer_events.ringbuf_submit(e, 0);
    return 0;
}

/* Subscriber side: which socket filled which buffer (roscpp reads a message's body
 * into a fresh buffer, starting at its first byte). */
TRACEPOINT_PROBE(syscalls, sys_enter_recvfrom)
{
    u64 id = bpf_get_current_pid_tgid();
    u32 tgid = id >> 32;
    if (!traced_tgids.lookup(&tgid))
        return 0;
    count_hit(11);
    struct buf_key bk = {.tgid = tgid, .buf = (u64)args->ubuf};
    u32 fd = (u32)args->fd;
    recv_bufs.update(&bk, &fd);
    return 0;
}

/* Calibration: rostrace_calibrate's empty target function with the same entry+return
 * pair as above; the span from entry to return is what a pair adds inside a span. */
BPF_HASH(calib_start, u32, u64, 64);
BPF_ARRAY(calib_span, u64, 2);      /* [0] sum of spans (ns), [1] count */

int on_calibrate_target(struct pt_regs *ctx)
{
    count_hit(6);
    u64 now = bpf_ktime_get_ns();
    u32 tid = (u32)bpf_get_current_pid_tgid();
    calib_start.update(&tid, &now);
    return 0;
}

int on_calibrate_target_return(struct pt_regs *ctx)
{
    count_hit(7);
    u64 now = bpf_ktime_get_ns();
    u32 tid = (u32)bpf_get_current_pid_tgid();
    u64 *start = calib_start.lookup(&tid);
    if (!start)
        return 0;
    u32 sum_i = 0, count_i = 1;
    u64 *sum = calib_span.lookup(&sum_i), *count = calib_span.lookup(&count_i);
    if (sum && count) {
        __sync_fetch_and_add(sum, now - *start);
        __sync_fetch_and_add(count, 1);
    }
    calib_start.delete(&tid);
    return 0;
}
