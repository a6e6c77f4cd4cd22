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
 * = 3 uprobe entries + 3 uretprobe returns per message, plus one
 * syscalls:sys_enter_recvfrom hit per read of a traced process (which socket
 * filled which buffer, for transport.c). A message dropped by a full queue costs the
 * push pair only.
 *
 * Pairing is by (process, queue, MessageDeserializer*) -- one message, one
 * deserializer object -- never by arrival order, so several queues, several
 * spinner threads, drops and messages queued before tracing began stay correct.
 * Limits: per-thread state is one call deep, so a callback that itself spins a
 * queue (ros::spinOnce inside a callback) loses the outer call's sample; min/max
 * are updated without atomics and may miss a sample racing on another CPU.
 * Scheduler splits add no uprobe: the handlers snapshot the thread counters kept by
 * sched.c. See clients/roscpp/src/libros/subscription_queue.cpp (ros_comm 1.15). */

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
    u64 allocs;             /* audit.c */
    u64 syscalls;           /* audit.c */
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
BPF_TABLE("lru_hash", struct object_key, u32, queue_server, STAT_ENTRIES);
BPF_TABLE("lru_hash", u32, u32, process_server, 4096);    /* tgid -> thread of the last call() */
BPF_TABLE("lru_hash", u32, struct push_ctx, push_by_tid, 16384);
BPF_TABLE("lru_hash", u32, struct call_ctx, call_by_tid, 16384);

/* The user callback running on this thread (after roscpp's own deserialization),
 * or 0. */
static __always_inline struct call_ctx *callback_of(u32 tid)
{
    struct call_ctx *cc = call_by_tid.lookup(&tid);
    return cc && cc->in_callback ? cc : 0;
}

/* Where a pushed message came from: a traced socket's recv() buffer, our own
 * publisher's serialized buffer, or (no bytes) a no-copy intra-process delivery. */
static __always_inline void find_origin(struct origin *o, u32 tgid, u32 tid, u64 deserializer)
{
    /* MessageDeserializer { helper_ (shared_ptr, 16 bytes);
     * SerializedMessage serialized_message_ { shared_array buf; size_t num_bytes; ...}} */
    u64 sm[3] = {};
    bpf_probe_read_user(sm, sizeof(sm), (void *)(deserializer + 16));
    if (sm[0]) {
        struct buf_key bk = {.tgid = tgid, .buf = sm[0]};
        u32 *fd = recv_bufs.lookup(&bk);
        if (fd) {
            o->kind = KIND_TCP;
            o->fd = *fd;
            fingerprint(&o->fp, sm[0], sm[2]);
        } else {
            struct pub_msg *own = pub_msgs.lookup(&bk);   /* our own publisher's buffer */
            if (own) {
                o->kind = KIND_INTRA;
                o->t_publish = own->t_publish;
                o->publication = own->publication;
            }
        }
    } else {
        /* Pushed by the publishing thread inside TopicManager::publish. */
        o->kind = KIND_INTRA;
        u64 *start = publish_start.lookup(&tid);
        if (start)
            o->t_publish = *start;
    }
}

/* The queue's length now (GAUGE_QUEUED), read from roscpp's SubscriptionQueue; nothing
 * when the bytes there do not look like its layout. */
static __always_inline void note_length(u32 g, u32 tgid, u64 queue)
{
    s32 size = 0;
    u32 length = 0;
    if (bpf_probe_read_user(&size, sizeof(size), (void *)(queue + SQ_SIZE_OFFSET)) ||
        bpf_probe_read_user(&length, sizeof(length), (void *)(queue + SQ_LENGTH_OFFSET)))
        return;
    if (size > 0 && length > (u32)size)
        return;
    gauge_in(g, tgid, queue, GAUGE_QUEUED, length);
}

/* Counting starts once every probe of the process is in place (user space adds it to
 * traced_tgids last), so a window never counts pushes whose calls it cannot see. */
int on_subscription_queue_push(struct pt_regs *ctx)
{
    count_hit(HIT_PUSH);
    u64 now = bpf_ktime_get_ns();
    u64 id = bpf_get_current_pid_tgid();
    u32 tgid = id >> 32, tid = (u32)id;
    if (!traced_tgids.lookup(&tgid))
        return 0;
    /* push(this, helper&, const MessageDeserializerPtr& deserializer, bool, weak_ptr&,
     *      bool, ros::Time receipt_time, bool* was_full): the last two on the stack. */
    struct msg_key mk = {.tgid = tgid, .queue = PT_REGS_PARM1(ctx)};
    bpf_probe_read_user(&mk.deserializer, sizeof(mk.deserializer), (void *)PT_REGS_PARM3(ctx));
    struct pending_msg pm = {.push_ns = now};
    struct object_key qk = {.tgid = tgid, .object = mk.queue};
    u32 *server = queue_server.lookup(&qk);
    if (!server)
        server = process_server.lookup(&tgid);   /* queue not served yet: best guess */
    if (server) {
        pm.server_tid = *server;
        pm.has_server = 1;
        snapshot(*server, now, &pm.server);
    }
    find_origin(&pm.origin, tgid, tid, mk.deserializer);
    pending.update(&mk, &pm);
    struct push_ctx pc = {.queue = mk.queue};
    bpf_probe_read_user(&pc.was_full, sizeof(pc.was_full), (void *)(PT_REGS_SP(ctx) + 16));
    push_by_tid.update(&tid, &pc);
    return 0;
}

int on_subscription_queue_push_return(struct pt_regs *ctx)
{
    count_hit(HIT_PUSH_RETURN);
    u64 id = bpf_get_current_pid_tgid();
    u32 tid = (u32)id;
    struct push_ctx *pc = push_by_tid.lookup(&tid);
    if (!pc)
        return 0;
    u8 was_full = 0;
    if (pc->was_full)
        bpf_probe_read_user(&was_full, 1, (void *)pc->was_full);
    u64 queue = pc->queue;
    push_by_tid.delete(&tid);
    /* Received, dropped and the length after it land in one window together. */
    u32 g;
    u64 *w = enter_generation(&g);
    if (!w)
        return 0;
    record_in(g, id >> 32, queue, COUNT_RECEIVED, 1);
    if (was_full)
        record_in(g, id >> 32, queue, COUNT_DROPPED, 1);
    note_length(g, id >> 32, queue);
    leave_generation(w);
    return 0;
}

int on_subscription_queue_call(struct pt_regs *ctx)
{
    count_hit(HIT_CALL);
    u64 now = bpf_ktime_get_ns();
    u64 id = bpf_get_current_pid_tgid();
    u32 tid = (u32)id, tgid = id >> 32;
    if (!traced_tgids.lookup(&tgid))
        return 0;
    struct call_ctx cc = {.queue = PT_REGS_PARM1(ctx), .start_ns = now};
    snapshot(tid, now, &cc.start);
    call_by_tid.update(&tid, &cc);
    struct object_key qk = {.tgid = tgid, .object = cc.queue};
    queue_server.update(&qk, &tid);
    process_server.update(&tgid, &tid);
    return 0;
}

int on_message_deserializer_deserialize(struct pt_regs *ctx)
{
    count_hit(HIT_DESERIALIZE);
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
    count_hit(HIT_DESERIALIZE_RETURN);
    u64 now = bpf_ktime_get_ns();
    u32 tid = (u32)bpf_get_current_pid_tgid();
    struct call_ctx *cc = call_by_tid.lookup(&tid);
    if (cc && cc->deser_start_ns) {
        cc->deser_ns = now - cc->deser_start_ns;
        cc->in_callback = 1;
    }
    return 0;
}

/* One ring-buffer event for a processed message whose origin is known. */
static __always_inline void emit_received(struct call_ctx *cc, u32 tgid, u64 now)
{
    struct xfer_event *e = xfer_events.ringbuf_reserve(sizeof(struct xfer_event));
    if (!e) {
        lose(LOST_EVENTS);
        return;
    }
    __builtin_memset(e, 0, sizeof(*e));
    e->type = EVENT_RECEIVED;
    e->tgid = tgid;
    e->fd = cc->origin.fd;
    e->kind = cc->origin.kind;
    e->object = cc->queue;
    e->publication = cc->origin.publication;
    e->t_publish = cc->origin.t_publish;
    e->t_received = cc->push_ns;
    e->t_done = now;
    e->fp = cc->origin.fp;
    xfer_events.ringbuf_submit(e, 0);
}

/* What the scheduler did during the call, and the audit's counts (audit.c). */
static __always_inline void record_call_splits(u32 g, struct call_ctx *cc, u32 tgid, u32 tid,
                                               u64 now)
{
    struct acct_snap end = {};
    snapshot(tid, now, &end);
    u64 q = cc->queue;
    record_in(g, tgid, q, STAGE_PROCESSING_ONCPU, delta(end.oncpu_ns, cc->start.oncpu_ns));
    record_in(g, tgid, q, STAGE_PROCESSING_RUNQUEUE, delta(end.runq_ns, cc->start.runq_ns));
    record_in(g, tgid, q, STAGE_PROCESSING_BLOCKED,
              delta(end.blocked_ns, cc->start.blocked_ns));
    record_in(g, tgid, q, SUM_VOLUNTARY_SWITCHES, delta(end.vol_cs, cc->start.vol_cs));
    record_in(g, tgid, q, SUM_INVOLUNTARY_SWITCHES, delta(end.invol_cs, cc->start.invol_cs));
    record_in(g, tgid, q, SUM_PAGE_FAULTS, delta(end.faults, cc->start.faults));
    if (audited_tgids.lookup(&tgid)) {
        record_in(g, tgid, q, SUM_ALLOCATIONS, cc->allocs);
        record_in(g, tgid, q, SUM_SYSCALLS, cc->syscalls);
    }
}

int on_subscription_queue_call_return(struct pt_regs *ctx)
{
    count_hit(HIT_CALL_RETURN);
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
    /* Everything of one call lands in one window (the queue's length too). */
    u32 g;
    u64 *w = enter_generation(&g);
    if (!w)
        return 0;
    record_in(g, tgid, cc.queue, COUNT_PROCESSED, 1);
    record_in(g, tgid, cc.queue, STAGE_DESERIALIZATION, deser_ns);
    record_in(g, tgid, cc.queue, STAGE_PROCESSING, processing_ns);
    if (cc.push_ns && cc.start_ns > cc.push_ns) {
        u64 queuing_ns = cc.start_ns - cc.push_ns;
        record_in(g, tgid, cc.queue, STAGE_QUEUING, queuing_ns);
        record_in(g, tgid, cc.queue, STAGE_TOTAL, queuing_ns + deser_ns + processing_ns);
        if (cc.q_split) {
            record_in(g, tgid, cc.queue, STAGE_QUEUING_BUSY, cc.q_busy_ns);
            record_in(g, tgid, cc.queue, STAGE_QUEUING_STARVED, cc.q_starved_ns);
            record_in(g, tgid, cc.queue, STAGE_QUEUING_IDLE, cc.q_idle_ns);
        }
    }
    if (cc.origin.kind && cc.push_ns)
        emit_received(&cc, tgid, now);
    record_call_splits(g, &cc, tgid, tid, now);
    note_length(g, tgid, cc.queue);
    leave_generation(w);
    return 0;
}

/* Which socket filled which buffer (roscpp reads a message's body into a fresh
 * buffer, starting at its first byte). */
TRACEPOINT_PROBE(syscalls, sys_enter_recvfrom)
{
    u64 id = bpf_get_current_pid_tgid();
    u32 tgid = id >> 32;
    if (!traced_tgids.lookup(&tgid))
        return 0;
    count_hit(HIT_RECV);
    struct buf_key bk = {.tgid = tgid, .buf = (u64)args->ubuf};
    u32 fd = (u32)args->fd;
    recv_bufs.update(&bk, &fd);
    return 0;
}
