/* roscpp subscriber receive path, per topic (= per SubscriptionQueue).
 *
 * Probe hits one received message costs (attached per PID, never system-wide):
 *   poll thread    SubscriptionQueue::push             entry
 *                  (queuing starts; received, and dropped when the queue is full)
 *   spinner thread MessageDeserializer::deserialize    entry + return
 *                  (queuing ends; deserialization span)
 *   spinner thread SubscriptionQueue::call, right after its virtual call of the
 *                  subscription callback helper (an instruction inside the function,
 *                  found by reading its code: system/symbols.py)
 *                  (processing ends: the user callback has returned)
 * = 4 BPF handlers, 4 traps (a return probe also traps at the function's entry),
 * plus a syscalls:sys_enter_recvfrom and sys_exit_recvfrom hit per read of a traced
 * process (which socket filled which buffer, for transport.c; how many bytes it took,
 * for the network / socket-wait split in sockets.c). Only messages of a queue a traced
 * publisher feeds are fingerprinted and reach user space (one ring-buffer event each);
 * user space marks the others QUEUE_UNMATCHABLE in `queue_flags`.
 * A message dropped by a full queue costs the push entry only. In the overhead budget's
 * counts mode (TGID_COUNTS) the push entry only counts: no pending message, no origin.
 *
 * Which queue a deserialize() serves: SubscriptionQueue::call keeps its `this` in a
 * callee-saved register across that call (rbx in Debian's 1.15.15), and the register
 * is believed only when deserialize() returns into SubscriptionQueue::call (user space
 * writes that function's address range into `call_sites`). Which register is learned
 * per process: while it is not known, SubscriptionQueue::call's entry probe (5
 * handlers per message) names the queue, the deserialize entry records the register
 * holding it in `call_sites`, and user space then removes that entry probe; it stays
 * in a process where no register holds the queue. A library build once learned starts
 * with its register known. A pushed message that does not pair with the learned
 * register is tried against the others (relearning).
 *
 * Queuing ends at deserialize() entry, so it includes call()'s start: its return
 * probe's entry trap, the queue lock and the pop (a few microseconds, not removed).
 *
 * Drops: push() drops the oldest message when the queue is full. The push entry
 * counts a drop when the queue it sees is full; roscpp's `full_` flag, read at the
 * next push of that queue, says whether the previous push really dropped, and a guess
 * a callback raced (the spinner popped between the entry and push's lock) is retracted
 * (COUNT_DROPS_RETRACTED) or added late.
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

/* What the kernel keeps of a queue between messages (one entry, one lookup per
 * handler): the thread that served it last, and whether its last push guessed a drop. */
struct queue_state {
    u32 server;
    u8 has_server;
    u8 has_guess;
    u8 dropped;
    u8 pad;
    u8 hot_hint[HOT_STAGES];    /* per stage: histogram group + 1 of its last sample
                                 * outside the window value's entry (common.c) */
};

struct call_ctx {
    u64 queue;
    u64 from_call_entry;    /* created by the SubscriptionQueue::call entry probe */
    u64 push_ns;            /* 0: message pushed before tracing began */
    u64 deser_start_ns;     /* queuing ends */
    u64 deser_end_ns;       /* processing starts */
    struct acct_snap start; /* the spinner thread's counters when deserialize() began */
    u64 q_busy_ns;          /* queuing split, valid when q_split */
    u64 q_starved_ns;
    u64 q_idle_ns;
    u64 q_split;
    u64 allocs;             /* audit.c */
    u64 syscalls;           /* audit.c */
    u64 in_callback;        /* deserialize() returned: the user callback runs now */
    u64 no_splits;          /* TGID_NO_SCHED: the scheduler split is off for this process */
    u64 audited;            /* TGID_AUDITED: allocations and syscalls are counted */
    u64 hist_val[HOT_STAGES];   /* finish_call: this message's stage samples (0: none) */
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
BPF_TABLE("lru_hash", struct object_key, struct queue_state, queue_states, STAT_ENTRIES);
BPF_TABLE("lru_hash", u32, u32, process_server, 4096);    /* tgid -> thread of the last call() */
BPF_TABLE("lru_hash", u32, struct call_ctx, call_by_tid, 16384);
BPF_ARRAY(zero_call, struct call_ctx, 1);       /* never written: a zero call_ctx */
BPF_HASH(call_sites, u32, struct call_site, 4096);
/* enum queue_flag of a queue (written by user space): unstamped, unmatchable. */
BPF_HASH(queue_flags, struct object_key, u8, STAT_ENTRIES);

/* The user callback running on this thread (after roscpp's own deserialization),
 * or 0. */
static __always_inline struct call_ctx *callback_of(u32 tid)
{
    struct call_ctx *cc = call_by_tid.lookup(&tid);
    return cc && cc->in_callback ? cc : 0;
}

/* On a registered connection: the sender's record of this message (transport.c), or 0. */
static __always_inline struct sent_msg *match_sent(struct origin *o, u32 tgid)
{
    struct sock_key sk = {.tgid = tgid, .fd = o->fd};
    u32 *conn = conn_ids.lookup(&sk);
    if (!conn)
        return 0;
    struct sent_key key = {.conn = *conn, .len = o->fp.len, .hash = o->fp.hash};
    struct sent_msg *sent = sent_msgs.lookup(&key);
    if (!sent || sent->t_sent > bpf_ktime_get_ns())
        return 0;
    o->matched = 1;
    o->pub_tgid = sent->pub_tgid;
    o->publication = sent->publication;
    o->t_publish = sent->t_publish;
    o->t_serialized = sent->t_serialized;
    o->t_sent = sent->t_sent;
    o->dropped = sent->dropped;
    o->pq_split = sent->pq_split;
    o->pq_busy_ns = sent->pq_busy_ns;
    o->pq_starved_ns = sent->pq_starved_ns;
    o->pq_idle_ns = sent->pq_idle_ns;
    sent->dropped = 0;      /* given to this message's link once, not to a second queue */
    return sent;
}

/* Where a pushed message came from: a traced socket's recv() buffer, our own
 * publisher's serialized buffer, or (no bytes) a no-copy intra-process delivery. */
static __always_inline void find_origin(struct origin *o, u32 tgid, u32 tid, u64 deserializer,
                                        u64 now)
{
    /* MessageDeserializer { helper_ (shared_ptr, 16 bytes);
     * SerializedMessage serialized_message_ { shared_array buf; size_t num_bytes; ...}} */
    u64 sm[3] = {};
    bpf_probe_read_user(sm, sizeof(sm), (void *)(deserializer + 16));
    if (sm[0]) {
        struct buf_key bk = {.tgid = tgid, .buf = sm[0]};
        u32 *fd = recv_bufs.lookup(&bk);
        if (!fd && sm[2] == 4) {        /* a 4-byte body: read on this thread (transport.c) */
            u32 i = tid & (RECV_SLOTS - 1);
            struct recv_slot *slot = recv_slots.lookup(&i);
            if (slot && slot->tid == tid && slot->buf == sm[0])
                fd = &slot->fd;
        }
        if (fd) {
            o->kind = KIND_TCP;
            o->fd = *fd;
            fingerprint(&o->fp, sm[0], sm[2]);
            struct sent_msg *sent = match_sent(o, tgid);
            if (sent)
                socket_wait(o, sent, tid, now);
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

/* roscpp's view of a queue: its bound (size_, an int: 0 or less for none), full_ (the last
 * push dropped), length. */
struct queue_view {
    u32 size;
    u32 length;
    u8 full;
    u8 bounded;
};

/* Read the queue's fields (one read from size_ to queue_size_); false when the bytes
 * there do not look like its layout, or cannot be read.
 * Said without the read's return value: tested here, it crashes the BPF backend of LLVM 11
 * (Debian 11's BCC 0.18, which compiles for BPF v1: its truncation peephole drops the
 * source register of the value's sign extension; llc -mcpu=v3 is fine). A failed read
 * leaves zeros: read as unknown, like the empty unbounded queue it cannot be told from,
 * whose length the gauge then misses (it drops nothing). */
#define SQ_VIEW_BYTES (SQ_LENGTH_OFFSET + 4 - SQ_SIZE_OFFSET)
static __always_inline bool read_queue(u64 queue, struct queue_view *v)
{
    u32 fields[SQ_VIEW_BYTES / 4] = {};
    bpf_probe_read_user(fields, sizeof(fields), (void *)(queue + SQ_SIZE_OFFSET));
    v->size = fields[0];
    v->bounded = v->size && !(v->size >> 31);
    v->length = fields[(SQ_LENGTH_OFFSET - SQ_SIZE_OFFSET) / 4];
    v->full = (u8)fields[(SQ_FULL_OFFSET - SQ_SIZE_OFFSET) / 4];
    return (v->size || v->length || v->full) && v->full <= 1 &&
           !(v->bounded && v->length > v->size);
}

/* Message age at receipt: roscpp's own receipt_time (push's 7th argument, on the stack
 * after the return address; ROS time, simulated with /use_sim_time like the stamp) -
 * header.stamp (bytes 4..11 of the serialized message: seq, then sec and nsec). Read
 * for every queue but those user space marked QUEUE_UNSTAMPED (a type without a
 * std_msgs/Header first, or one it cannot tell): so a queue's first messages, before
 * user space knew its address, are measured too; user space shows the numbers only for
 * types with a header.
 * Returns STAMP_AGED (and *age), STAMP_AHEAD (a stamp later than the receipt: clocks
 * disagree) or 0 (no bytes: a no-copy intra-process message; a zero stamp). */
#define STAMP_AGED 1
#define STAMP_AHEAD 2
BPF_PERCPU_ARRAY(push_scratch, struct pending_msg, 1);

static __always_inline u8 stamp_age(struct pt_regs *ctx, u64 deserializer, u64 *age)
{
    u64 buf = 0;
    u32 stamp[2] = {}, receipt[2] = {};
    if (bpf_probe_read_user(&buf, sizeof(buf), (void *)(deserializer + 16)) || !buf ||
        bpf_probe_read_user(stamp, sizeof(stamp), (void *)(buf + 4)) ||
        bpf_probe_read_user(receipt, sizeof(receipt), (void *)(PT_REGS_SP(ctx) + 8)))
        return 0;
    if (stamp[1] >= 1000000000 || receipt[1] >= 1000000000 || (!stamp[0] && !stamp[1]))
        return 0;
    u64 s = stamp[0] * 1000000000ULL + stamp[1];
    u64 r = receipt[0] * 1000000000ULL + receipt[1];
    if (s > r)
        return STAMP_AHEAD;
    *age = r - s;
    return STAMP_AGED;
}

/* Received, dropped and the queue's length after this push, in one window: the drop
 * is guessed from the queue seen now, and the previous push's guess is checked against
 * roscpp's full_ flag it left behind. */
static __always_inline struct queue_state *queue_state_of(struct object_key *qk)
{
    struct queue_state init = {};
    return queue_states.lookup_or_try_init(qk, &init);
}

/* A new window value of a queue takes, per stage, the group its last sample outside the
 * previous value's entry fell in: a stage whose samples stay in one power of two costs
 * a hash lookup in its first window only. */
static __always_inline void seed_hot(struct queue_stats *qs, u32 tgid, u64 queue)
{
    struct object_key qk = {.tgid = tgid, .object = queue};
    struct queue_state *qst = queue_states.lookup(&qk);
    if (!qst)
        return;
#pragma unroll
    for (int s = 0; s < HOT_STAGES; s++)
        qs->hot[s].group1 = qst->hot_hint[s];
}

static __always_inline void note_hot_miss(u32 tgid, u64 queue, u32 rec, u32 group)
{
    struct object_key qk = {.tgid = tgid, .object = queue};
    struct queue_state *qst = queue_states.lookup(&qk);
    if (qst && rec < HOT_STAGES && group < 255)
        qst->hot_hint[rec] = group + 1;
}

static __always_inline void count_push(u32 tgid, u64 queue, struct queue_state *qst, u8 aged,
                                       u64 age)
{
    struct queue_view v = {};
    bool known = read_queue(queue, &v);
    u8 drops = known && v.bounded && v.length >= v.size;
    bool prev = qst && qst->has_guess;
    u8 prev_dropped = prev ? qst->dropped : 0;
    u32 g;
    u64 *w = enter_generation(&g);
    if (!w)
        return;
    struct queue_stats *qs = queue_stats(g, tgid, queue);
    if (qs) {
        queue_add(qs, g, tgid, queue, COUNT_RECEIVED, 1);
        if (drops)
            queue_add(qs, g, tgid, queue, COUNT_DROPPED, 1);
        if (known && prev && prev_dropped != v.full && v.full)
            queue_add(qs, g, tgid, queue, COUNT_DROPPED, 1);
        else if (known && prev && prev_dropped != v.full)
            queue_add(qs, g, tgid, queue, COUNT_DROPS_RETRACTED, 1);
        if (known)
            queue_gauge(qs, GAUGE_QUEUED, drops ? v.length : v.length + 1);
        if (aged == STAMP_AGED)
            queue_add(qs, g, tgid, queue, STAGE_STAMP_AGE, age);
        else if (aged == STAMP_AHEAD)
            queue_add(qs, g, tgid, queue, COUNT_STAMP_AHEAD, 1);
    }
    leave_generation(w);
    if (qst && (prev || known)) {
        qst->dropped = drops;
        qst->has_guess = 1;
    }
}

/* Counting starts once every probe of the process is in place (user space adds it to
 * traced_tgids last), so a window never counts pushes whose calls it cannot see. */
int on_subscription_queue_push(struct pt_regs *ctx)
{
    count_hit(HIT_PUSH);
    u64 now = bpf_ktime_get_ns();
    u64 id = current_pid_tgid();
    u32 tgid = id >> 32, tid = (u32)id;
    u8 *flags = traced_tgids.lookup(&tgid);
    if (!flags)
        return 0;
    u8 actions = *flags & TGID_ACTIONS;
    /* push(this, helper&, const MessageDeserializerPtr& deserializer, bool, weak_ptr&,
     *      bool, ros::Time receipt_time, bool* was_full) */
    struct object_key qk = {.tgid = tgid, .object = PT_REGS_PARM1(ctx)};
    struct queue_state *qst = queue_state_of(&qk);
    if (*flags & TGID_COUNTS) {     /* overhead budget: received, dropped, queued only */
        count_push(tgid, qk.object, qst, 0, 0);
        return 0;
    }
    struct msg_key mk = {.tgid = tgid, .queue = qk.object};
    bpf_probe_read_user(&mk.deserializer, sizeof(mk.deserializer), (void *)PT_REGS_PARM3(ctx));
    if (actions) {          /* MessageDeserializer: helper_, then SerializedMessage
                             * {shared_array buf, size_t num_bytes, ...} */
        u64 sm[3] = {};
        bpf_probe_read_user(sm, sizeof(sm), (void *)(mk.deserializer + 16));
        action_capture(ctx, tgid, mk.queue, sm[0], sm[2], now, ACTION_RECEIVED);
    }
    u8 *qflags = queue_flags.lookup(&qk);
    u8 queue_flag = qflags ? *qflags : 0;
    u64 age = 0;
    u8 aged = queue_flag & QUEUE_UNSTAMPED ? 0 : stamp_age(ctx, mk.deserializer, &age);
    /* Built in a per-CPU scratch value: it does not fit the BPF stack beside the rest. */
    int zero = 0;
    struct pending_msg *pm = push_scratch.lookup(&zero);
    if (!pm)
        return 0;
    __builtin_memset(pm, 0, sizeof(*pm));
    pm->push_ns = now;
    u32 *server = qst && qst->has_server ? &qst->server : 0;
    if (!server)
        server = process_server.lookup(&tgid);   /* queue not served yet: best guess */
    if (server) {
        pm->server_tid = *server;
        pm->has_server = 1;
        snapshot(*server, now, &pm->server);
    }
    if (!(queue_flag & QUEUE_UNMATCHABLE))
        find_origin(&pm->origin, tgid, tid, mk.deserializer, now);
    pending.update(&mk, pm);
    count_push(tgid, mk.queue, qst, aged, age);
    return 0;
}

/* Only in processes whose queue register is not known (see the top of this file). */
int on_subscription_queue_call(struct pt_regs *ctx)
{
    count_hit(HIT_CALL);
    u64 id = current_pid_tgid();
    u32 tid = (u32)id, tgid = id >> 32;
    if (!traced_tgids.lookup(&tgid))
        return 0;
    struct call_ctx *left = call_by_tid.lookup(&tid);
    if (left && left->in_callback)
        record(tgid, left->queue, COUNT_EXCEPTIONS, 1);     /* its end never came */
    struct call_ctx cc = {.queue = PT_REGS_PARM1(ctx), .from_call_entry = 1};
    call_by_tid.update(&tid, &cc);
    return 0;
}

/* The callee-saved registers at deserialize() entry, in enum saved_register order
 * (each read at a constant offset: the verifier refuses a computed one into ctx). */
static __always_inline void saved_registers(struct pt_regs *ctx, u64 regs[REG_COUNT])
{
    regs[REG_RBX] = ctx->bx;
    regs[REG_RBP] = ctx->bp;
    regs[REG_R12] = ctx->r12;
    regs[REG_R13] = ctx->r13;
    regs[REG_R14] = ctx->r14;
    regs[REG_R15] = ctx->r15;
}

/* The message a deserialize() entered from SubscriptionQueue::call serves: sets
 * mk->queue (0: unknown) and returns its pending push, or 0 (pushed before tracing).
 * The learned register is tried first; a miss tries the others and relearns. */
static __always_inline struct pending_msg *served_message(struct pt_regs *ctx,
                                                          struct msg_key *mk)
{
    u32 tgid = mk->tgid;
    struct call_site *site = call_sites.lookup(&tgid);
    u64 ret = 0;
    if (!site || bpf_probe_read_user(&ret, sizeof(ret), (void *)PT_REGS_SP(ctx)) ||
        ret < site->lo || ret >= site->hi)
        return 0;           /* not called by SubscriptionQueue::call */
    u64 regs[REG_COUNT];
    saved_registers(ctx, regs);
    u32 known = site->reg;
    u64 known_value = 0;
    struct pending_msg *pm;
#pragma unroll
    for (u32 r = 0; r < REG_COUNT; r++) {
        if (r == known)
            known_value = regs[r];
    }
    if (known < REG_COUNT) {
        mk->queue = known_value;
        pm = pending.lookup(mk);
        if (pm)
            return pm;
    }
#pragma unroll
    for (u32 r = 0; r < REG_COUNT; r++) {
        if (r == known)
            continue;
        mk->queue = regs[r];
        pm = pending.lookup(mk);
        if (pm) {
            site->reg = r;
            return pm;
        }
    }
    /* No pushed message pairs: queued before tracing began (or no register holds it). */
    mk->queue = known_value;
    __sync_fetch_and_add(&site->misses, 1);
    return 0;
}

/* While SubscriptionQueue::call's entry probe says which queue is served: the first
 * saved register holding it (user space then removes that probe). */
static __always_inline void learn_register(struct pt_regs *ctx, u32 tgid, u64 queue)
{
    struct call_site *site = call_sites.lookup(&tgid);
    if (!site || site->reg < REG_COUNT)
        return;
    u64 regs[REG_COUNT];
    saved_registers(ctx, regs);
#pragma unroll
    for (u32 r = 0; r < REG_COUNT; r++) {
        if (regs[r] == queue) {
            site->reg = r;
            return;
        }
    }
}

int on_message_deserializer_deserialize(struct pt_regs *ctx)
{
    count_hit(HIT_DESERIALIZE);
    u64 now = bpf_ktime_get_ns();
    u64 id = current_pid_tgid();
    u32 tid = (u32)id, tgid = id >> 32;
    u8 *flags = traced_tgids.lookup(&tgid);
    if (!flags)
        return 0;
    u64 no_splits = *flags & TGID_NO_SCHED, audited = *flags & TGID_AUDITED;
    /* deserialize() returns a boost::shared_ptr by value: the hidden return slot
     * is the first argument, `this` the second. */
    struct msg_key mk = {.tgid = tgid, .deserializer = PT_REGS_PARM2(ctx)};
    struct call_ctx *entered = call_by_tid.lookup(&tid);
    if (entered && entered->in_callback)
        record(tgid, entered->queue, COUNT_EXCEPTIONS, 1);  /* its end never came */
    struct pending_msg *pm;
    if (entered && entered->from_call_entry && !entered->deser_start_ns) {
        mk.queue = entered->queue;
        pm = pending.lookup(&mk);
        learn_register(ctx, tgid, mk.queue);
    } else {
        pm = served_message(ctx, &mk);
        if (!mk.queue)
            return 0;
    }
    /* call_ctx is too large for the BPF stack: the thread's entry is reset in place (a
     * finished call leaves it zeroed, see on_subscription_callback_done), created from a
     * zero value on the thread's first call. */
    struct call_ctx *cc = entered;
    if (cc) {
        __builtin_memset(cc, 0, sizeof(*cc));
    } else {
        u32 zero = 0;
        struct call_ctx *init = zero_call.lookup(&zero);
        if (!init || call_by_tid.update(&tid, init))
            return 0;
        cc = call_by_tid.lookup(&tid);
        if (!cc)
            return 0;
    }
    cc->queue = mk.queue;
    cc->deser_start_ns = now;
    cc->no_splits = no_splits;
    cc->audited = audited;
    snapshot(tid, now, &cc->start);
    if (pm) {
        cc->push_ns = pm->push_ns;
        cc->origin = pm->origin;
        if (pm->has_server && pm->server_tid == tid && !no_splits) {
            /* The thread that serves it now is the one watched since the push. */
            cc->q_busy_ns = delta(cc->start.oncpu_ns, pm->server.oncpu_ns);
            cc->q_starved_ns = delta(cc->start.runq_ns, pm->server.runq_ns);
            cc->q_idle_ns = delta(cc->start.blocked_ns, pm->server.blocked_ns);
            cc->q_split = 1;
        }
        pending.delete(&mk);
    }
    /* Who serves the queue (and the process) now: written only when it changed. */
    struct object_key qk = {.tgid = tgid, .object = mk.queue};
    struct queue_state *qst = queue_state_of(&qk);
    if (qst && (!qst->has_server || qst->server != tid)) {
        qst->server = tid;
        qst->has_server = 1;
    }
    u32 *server = process_server.lookup(&tgid);
    if (!server || *server != tid)
        process_server.update(&tgid, &tid);
    return 0;
}

int on_message_deserializer_deserialize_return(struct pt_regs *ctx)
{
    count_hit(HIT_DESERIALIZE_RETURN);
    u64 now = bpf_ktime_get_ns();
    u32 tid = (u32)current_pid_tgid();
    struct call_ctx *cc = call_by_tid.lookup(&tid);
    if (cc && cc->deser_start_ns && !cc->deser_end_ns) {
        cc->deser_end_ns = now;
        cc->in_callback = 1;
    }
    return 0;
}

/* One event for a processed message whose origin is known. */
static __always_inline void emit_received(void *ctx, struct call_ctx *cc, u32 tgid, u64 now)
{
    struct xfer_event *e = xfer_reserve();
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
    xfer_submit(ctx, e);
}

/* What the receiving poll thread did over network and socket wait (sockets.c). */
static __always_inline void record_receiver_splits(struct link_stats *ls, u32 g,
                                                   struct link_key *lk, struct origin *o)
{
    if (o->net_split) {
        link_add(ls, g, lk, LINK_NETWORK_BUSY, o->net_busy_ns);
        link_add(ls, g, lk, LINK_NETWORK_STARVED, o->net_starved_ns);
        link_add(ls, g, lk, LINK_NETWORK_IDLE, o->net_idle_ns);
    }
    if (o->sw_split) {
        link_add(ls, g, lk, LINK_SOCKET_WAIT_BUSY, o->sw_busy_ns);
        link_add(ls, g, lk, LINK_SOCKET_WAIT_STARVED, o->sw_starved_ns);
        link_add(ls, g, lk, LINK_SOCKET_WAIT_IDLE, o->sw_idle_ns);
    }
}

/* A processed message's link numbers, in the kernel: intra-process deliveries and
 * messages matched at push. False when user space has to match it (an event). */
static __always_inline bool record_link(u32 g, struct call_ctx *cc, u32 tgid, u64 now)
{
    struct origin *o = &cc->origin;
    bool intra = o->kind == KIND_INTRA;
    if (!intra && !o->matched)
        return false;
    struct link_key lk = {.sub_tgid = tgid, .pub_tgid = intra ? tgid : o->pub_tgid,
                          .queue = cc->queue, .publication = o->publication,
                          .intra = intra};
    struct link_stats *ls = link_stats_of(g, &lk);
    if (!ls)
        return true;
    link_add(ls, g, &lk, LINK_MESSAGES, 1);
    if (o->dropped)
        link_add(ls, g, &lk, LINK_DROPPED, o->dropped);
    if (!intra) {
        link_sender_split(ls, g, &lk, o->pq_split, o->pq_busy_ns, o->pq_starved_ns,
                          o->pq_idle_ns);
        if (link_crossing(ls, g, &lk, o->t_publish, o->t_serialized, o->t_sent, o->t_ready,
                          cc->push_ns))
            record_receiver_splits(ls, g, &lk, o);
    }
    if (o->t_publish && now > o->t_publish)
        link_add(ls, g, &lk, LINK_END_TO_END, now - o->t_publish);
    return true;
}

/* What the scheduler did during the call, and the audit's counts (audit.c). */
static __always_inline void record_call_splits(struct queue_stats *qs, u32 g,
                                               struct call_ctx *cc, u32 tgid, u32 tid, u64 now)
{
    struct acct_snap end = {};
    snapshot(tid, now, &end);
    u64 q = cc->queue;
    u64 *v = cc->hist_val;
    queue_stage(qs, v, STAGE_PROCESSING_ONCPU, delta(end.oncpu_ns, cc->start.oncpu_ns));
    queue_stage(qs, v, STAGE_PROCESSING_RUNQUEUE, delta(end.runq_ns, cc->start.runq_ns));
    queue_stage(qs, v, STAGE_PROCESSING_BLOCKED, delta(end.blocked_ns, cc->start.blocked_ns));
    queue_add(qs, g, tgid, q, SUM_VOLUNTARY_SWITCHES, delta(end.vol_cs, cc->start.vol_cs));
    queue_add(qs, g, tgid, q, SUM_INVOLUNTARY_SWITCHES, delta(end.invol_cs, cc->start.invol_cs));
    queue_add(qs, g, tgid, q, SUM_PAGE_FAULTS, delta(end.faults, cc->start.faults));
    if (cc->audited) {
        queue_add(qs, g, tgid, q, SUM_ALLOCATIONS, cc->allocs);
        queue_add(qs, g, tgid, q, SUM_SYSCALLS, cc->syscalls);
    }
}

/* The queue's length now (GAUGE_QUEUED), when its bytes look like roscpp's layout. */
static __always_inline void note_length(struct queue_stats *qs, u64 queue)
{
    struct queue_view v = {};
    if (read_queue(queue, &v))
        queue_gauge(qs, GAUGE_QUEUED, v.length);
}

static __always_inline void capture_message(void *ctx, struct call_ctx *cc, u32 tgid, u32 tid, u64 now)
{
    struct span_event *e = span_start(SPAN_MESSAGE, tgid, tid, cc->queue);
    if (!e)
        return;
    e->t0 = cc->push_ns;
    e->t1 = cc->deser_start_ns;
    e->t2 = cc->deser_end_ns;
    e->t3 = now;
    struct origin *o = &cc->origin;
    if (o->kind == KIND_INTRA || o->matched) {
        e->origin_tgid = o->kind == KIND_INTRA ? tgid : o->pub_tgid;
        e->origin_publication = o->publication;
        e->origin_t_publish = o->t_publish;
    }
    span_submit(ctx, e);
}

/* The pair of a queue's latest wait for a transform inside its callback (tf.c), for
 * user space to name in "processing dominated by TF wait for target <- source". */
BPF_TABLE("lru_hash", struct object_key, u64, tf_queue_pairs, STAT_ENTRIES);

/* The numbers of one served message (call_ctx stays in its map meanwhile: copying
 * it would not fit the BPF stack beside the link and stats keys). */
static __always_inline void finish_call(void *ctx, struct call_ctx *cc, u32 tgid, u32 tid, u64 now)
{
    if (!cc->deser_start_ns)
        return;                 /* TryAgain / Invalid: no message was served */
    /* Each span ends after one handler and begins inside another: the part of an
     * entry+return pair that falls inside the span it measures is removed. Without
     * the deserialize return probe (the budget's reduced mode) processing starts at
     * deserialize() entry and includes deserialization. */
    u64 inner_ns = calib_ns(1);
    u64 split_at = cc->deser_end_ns ? cc->deser_end_ns : cc->deser_start_ns;
    u64 deser_raw = split_at - cc->deser_start_ns;
    u64 proc_raw = now - split_at;
    u64 deser_ns = deser_raw > inner_ns ? deser_raw - inner_ns : 0;
    u64 processing_ns = proc_raw > inner_ns ? proc_raw - inner_ns : 0;
    /* Everything of one call lands in one window (the queue's length too). */
    u32 g;
    u64 *w = enter_generation(&g);
    if (!w)
        return;
    u64 q = cc->queue;
    struct queue_stats *qs = queue_stats(g, tgid, q);
    if (!qs) {
        leave_generation(w);
        return;
    }
    queue_add(qs, g, tgid, q, COUNT_PROCESSED, 1);
    if (cc->deser_end_ns)
        queue_stage(qs, cc->hist_val, STAGE_DESERIALIZATION, deser_ns);
    queue_stage(qs, cc->hist_val, STAGE_PROCESSING, processing_ns);
    if (cc->push_ns && cc->deser_start_ns > cc->push_ns) {
        u64 queuing_ns = cc->deser_start_ns - cc->push_ns;
        queue_stage(qs, cc->hist_val, STAGE_QUEUING, queuing_ns);
        queue_stage(qs, cc->hist_val, STAGE_TOTAL, queuing_ns + deser_ns + processing_ns);
        if (cc->q_split) {
            queue_stage(qs, cc->hist_val, STAGE_QUEUING_BUSY, cc->q_busy_ns);
            queue_stage(qs, cc->hist_val, STAGE_QUEUING_STARVED, cc->q_starved_ns);
            queue_stage(qs, cc->hist_val, STAGE_QUEUING_IDLE, cc->q_idle_ns);
        }
    }
    if (cc->origin.kind && cc->push_ns && !record_link(g, cc, tgid, now))
        emit_received(ctx, cc, tgid, now);
    if (cc->origin.kind) {
        record_paths(g, tgid, q, &cc->origin, now);
        processed(tgid, q, &cc->origin, now);
    }
    if (capture_on())
        capture_message(ctx, cc, tgid, tid, now);
    if (!cc->no_splits)
        record_call_splits(qs, g, cc, tgid, tid, now);
    note_length(qs, q);
    queue_hists(qs, g, tgid, q, cc->hist_val);
    leave_generation(w);
}

/* No return probe on SubscriptionQueue::call: a user callback's exception leaves that
 * function for the node's own catch (around spinOnce, say), and a uretprobe trampoline
 * in its way makes the unwinder call std::terminate. The probe sits after the callback's
 * call instead; a callback that throws never reaches it, and is counted at the next
 * message its thread serves (COUNT_EXCEPTIONS). */
int on_subscription_callback_done(struct pt_regs *ctx)
{
    count_hit(HIT_CALLBACK_DONE);
    u64 now = bpf_ktime_get_ns();
    u64 id = current_pid_tgid();
    u32 tgid = id >> 32, tid = (u32)id;
    struct call_ctx *cc = call_by_tid.lookup(&tid);
    if (!cc)
        return 0;
    finish_call(ctx, cc, tgid, tid, now);
    /* The entry stays for the thread's next call (an LRU delete and a re-insert per
     * message cost more than this): every reader takes an entry without deser_start_ns,
     * from_call_entry and in_callback for no call. */
    cc->deser_start_ns = 0;
    cc->from_call_entry = 0;
    cc->in_callback = 0;
    return 0;
}
