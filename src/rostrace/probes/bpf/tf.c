/* tf2 lookups in every traced process that maps libtf2 / libtf2_ros (engine/tf.py).
 *
 * tf2 reports a failed lookup by throwing, and a return probe on a function an exception
 * leaves kills the target; a probe on a `ret` instruction is single-stepped (measured
 * here: ~18 us a hit). So only function entries are probed:
 *
 *   tf2_ros::Buffer::lookupTransform(..., timeout)     a lookup starts (its frames)
 *     tf2_ros::Buffer::canTransform(..., timeout)      its wait starts
 *       tf2_ros::conditionally_append_timeout_info      the wait ends: canTransform's
 *                                                      last call (the transform is
 *                                                      there, or the timeout passed);
 *                                                      the lookup's time ends here too
 *     tf2::BufferCore::lookupTransform(...)            the walk (nothing to record)
 *   __cxa_throw (libstdc++)                            a tf2 exception thrown inside a
 *                                                      lookup: its failure, by type
 *
 * BufferCore::lookupTransform called directly (buffer_server, tf2 users without
 * tf2_ros::Buffer) is a lookup of its own: counted, its failures too, not timed.
 * canTransform with a timeout called directly is a wait of its own. A lookup's end is not
 * seen when it succeeds: its state stays until the thread's next lookup, and a throw
 * belongs to it only from a deeper stack (the lookup's frame still there) and while the
 * core calls the lookup makes are not used up (a later, unrelated lookup is not nested).
 * See geometry2 (noetic) tf2_ros/src/buffer.cpp, tf2/src/buffer_core.cpp. */

struct tf_lookup {
    u64 t_start;
    u64 sp;                 /* stack pointer at the entry that started it */
    u64 pair;
    u32 nested_left;        /* BufferCore::lookupTransform calls it still makes */
    u32 buffer;             /* started by tf2_ros::Buffer (timed): the calls it makes in
                             * all; 0 when started by the core */
};

struct tf_wait {
    u64 t_start;
    u64 pair;
    u64 timeout_ns;
    u64 in_lookup;          /* the wait of the thread's tf2_ros::Buffer lookup */
};

/* Waits outside subscription callbacks, per thread, for the timer whose callback ran
 * them (timers.c takes them at the firing's end). */
struct tf_thread_wait {
    u64 first_ns;           /* start of the first wait summed */
    u64 wait_ns;
};

BPF_TABLE("lru_hash", u32, struct tf_lookup, tf_lookups, 4096);       /* tid -> */
BPF_TABLE("lru_hash", u32, struct tf_wait, tf_waits, 4096);           /* tid -> */
BPF_TABLE("lru_hash", u32, struct tf_thread_wait, tf_thread_waits, 4096);
BPF_HASH(tf_frames, u64, struct tf_frame, 4096);
BPF_HASH(tf_pairs, u64, struct tf_pair, 4096);
BPF_PERCPU_ARRAY(tf_scratch, struct tf_frame, 1);
/* (tgid, pair) -> the std::type_info* of its latest throw whose name was unreadable */
BPF_HASH(tf_unread_types, struct object_key, u64, 1024);

/* FNV-1a of the frame id in the std::string at `str` (kept in tf_frames), or 0. */
static __always_inline u64 tf_frame_hash(u64 str)
{
    u64 data = 0;
    u32 zero = 0;
    struct tf_frame *n = tf_scratch.lookup(&zero);
    if (!n || !str || bpf_probe_read_user(&data, sizeof(data), (void *)str))
        return 0;
    __builtin_memset(n->text, 0, sizeof(n->text));
    if (bpf_probe_read_user_str(n->text, sizeof(n->text), (void *)data) <= 0)
        return 0;
    u64 h = 14695981039346656037ULL;
#pragma unroll
    for (int i = 0; i < TF_FRAME_BYTES; i++) {
        if (!n->text[i])
            break;
        h = (h ^ n->text[i]) * 1099511628211ULL;
    }
    if (!tf_frames.lookup(&h))
        tf_frames.update(&h, n);
    return h;
}

/* The pair's hash (target, source: std::string pointers), frames kept; 0 when unreadable. */
static __always_inline u64 tf_pair_hash(u64 target_str, u64 source_str)
{
    struct tf_pair p = {.target = tf_frame_hash(target_str),
                        .source = tf_frame_hash(source_str)};
    if (!p.target || !p.source)
        return 0;
    u64 h = p.target ^ (p.source * 0x9E3779B97F4A7C15ULL);
    if (!h)
        h = 1;
    if (!tf_pairs.lookup(&h))
        tf_pairs.update(&h, &p);
    return h;
}

static __always_inline u32 tf_traced(u32 tgid)
{
    u8 *flags = traced_tgids.lookup(&tgid);
    return flags && (*flags & TGID_TF);
}

/* Core calls each kind of lookup makes: Buffer's simple lookup one simple core lookup;
 * Buffer's full one a full core lookup, which makes two simple ones. */
#define TF_NESTED_SIMPLE 1
#define TF_NESTED_FULL 3
#define TF_NESTED_CORE_FULL 2

/* tf2_ros::Buffer::lookupTransform(ret slot, this, target, ...): a lookup starts. */
static __always_inline void tf_lookup_start(struct pt_regs *ctx, u64 target, u64 source,
                                            u32 nested)
{
    count_hit(HIT_TF);
    u64 id = current_pid_tgid();
    u32 tid = (u32)id;
    if (!tf_traced(id >> 32))
        return;
    struct tf_lookup l = {.t_start = bpf_ktime_get_ns(), .sp = PT_REGS_SP(ctx),
                          .pair = tf_pair_hash(target, source), .nested_left = nested,
                          .buffer = nested};
    if (l.pair)
        tf_lookups.update(&tid, &l);
}

int on_tf_lookup(struct pt_regs *ctx)
{
    /* (ret, this, const string& target, const string& source, const Time&, Duration) */
    tf_lookup_start(ctx, PT_REGS_PARM3(ctx), PT_REGS_PARM4(ctx), TF_NESTED_SIMPLE);
    return 0;
}

int on_tf_lookup_full(struct pt_regs *ctx)
{
    /* (ret, this, target, const Time&, source, const Time&, fixed, Duration) */
    tf_lookup_start(ctx, PT_REGS_PARM3(ctx), PT_REGS_PARM5(ctx), TF_NESTED_FULL);
    return 0;
}

/* tf2::BufferCore::lookupTransform(ret slot, this, target, ...) entry: part of the
 * thread's lookup, or a lookup of its own (counted). */
static __always_inline void tf_core_start(struct pt_regs *ctx, u64 target, u64 source,
                                          u32 nested)
{
    count_hit(HIT_TF);
    u64 id = current_pid_tgid();
    u32 tid = (u32)id, tgid = id >> 32;
    if (!tf_traced(tgid))
        return;
    u64 sp = PT_REGS_SP(ctx);
    struct tf_lookup *l = tf_lookups.lookup(&tid);
    if (l && sp < l->sp && l->nested_left) {
        l->nested_left -= 1;                /* a call the thread's lookup makes */
        return;
    }
    struct tf_lookup fresh = {.t_start = bpf_ktime_get_ns(), .sp = sp,
                              .pair = tf_pair_hash(target, source), .nested_left = nested};
    if (!fresh.pair) {
        if (l)
            tf_lookups.delete(&tid);
        return;
    }
    tf_lookups.update(&tid, &fresh);
    record(tgid, fresh.pair, TF_CORE_LOOKUPS, 1);
}

int on_tf_core_lookup(struct pt_regs *ctx)
{
    tf_core_start(ctx, PT_REGS_PARM3(ctx), PT_REGS_PARM4(ctx), 0);
    return 0;
}

int on_tf_core_lookup_full(struct pt_regs *ctx)
{
    tf_core_start(ctx, PT_REGS_PARM3(ctx), PT_REGS_PARM5(ctx), TF_NESTED_CORE_FULL);
    return 0;
}

static __always_inline void tf_wait_start(struct pt_regs *ctx, u64 target, u64 source,
                                          u64 timeout)
{
    count_hit(HIT_TF);
    u64 id = current_pid_tgid();
    u32 tid = (u32)id;
    if (!tf_traced(id >> 32))
        return;
    struct tf_wait w = {.t_start = bpf_ktime_get_ns()};
    struct tf_lookup *l = tf_lookups.lookup(&tid);
    if (l && l->buffer && PT_REGS_SP(ctx) < l->sp && l->nested_left == l->buffer) {
        /* (no core call made yet: the wait comes first) */
        w.pair = l->pair;                   /* the wait of a lookupTransform */
        w.in_lookup = 1;
    } else {
        w.pair = tf_pair_hash(target, source);
    }
    if (!w.pair)
        return;
    s32 sec = (s32)timeout, nsec = (s32)(timeout >> 32);    /* ros::Duration by value */
    if (sec > 0 || (sec == 0 && nsec > 0))
        w.timeout_ns = (u64)sec * 1000000000ULL + (u32)nsec;
    tf_waits.update(&tid, &w);
}

int on_tf_wait(struct pt_regs *ctx)
{
    /* (this, const string& target, const string& source, const Time&, Duration, string*) */
    tf_wait_start(ctx, PT_REGS_PARM2(ctx), PT_REGS_PARM3(ctx), PT_REGS_PARM5(ctx));
    return 0;
}

int on_tf_wait_full(struct pt_regs *ctx)
{
    /* (this, target, const Time&, source, const Time&, fixed, Duration [stack], string*) */
    u64 timeout = 0;
    bpf_probe_read_user(&timeout, sizeof(timeout), (void *)(PT_REGS_SP(ctx) + 8));
    tf_wait_start(ctx, PT_REGS_PARM2(ctx), PT_REGS_PARM4(ctx), timeout);
    return 0;
}

/* tf2_ros::conditionally_append_timeout_info(): the last call of canTransform(...,
 * timeout), after its final check: the wait is over. It timed out when it lasted the
 * whole timeout (canTransform polls until then). Inside a subscription callback the wait
 * is part of that callback's processing, else of the thread (a timer callback's,
 * timers.c). */
int on_tf_wait_done(struct pt_regs *ctx)
{
    count_hit(HIT_TF);
    u64 now = bpf_ktime_get_ns();
    u64 id = current_pid_tgid();
    u32 tid = (u32)id, tgid = id >> 32;
    struct tf_wait *w = tf_waits.lookup(&tid);
    if (!w)
        return 0;
    u64 pair = w->pair, waited = delta(now, w->t_start), t_start = w->t_start;
    bool timed_out = w->timeout_ns && waited >= w->timeout_ns;
    u64 in_lookup = w->in_lookup;
    tf_waits.delete(&tid);
    u64 lookup_ns = 0;
    if (in_lookup) {
        struct tf_lookup *l = tf_lookups.lookup(&tid);
        if (l && l->pair == pair)
            lookup_ns = delta(now, l->t_start);
        else
            in_lookup = 0;
    }
    struct call_ctx *cc = call_by_tid.lookup(&tid);
    u64 queue = cc && cc->deser_start_ns ? cc->queue : 0;
    u32 g;
    u64 *gw = enter_generation(&g);
    if (!gw)
        return 0;
    record_in(g, tgid, pair, TF_WAIT, waited);
    if (timed_out)
        record_in(g, tgid, pair, TF_WAIT_TIMEOUTS, 1);
    if (in_lookup)
        record_in(g, tgid, pair, TF_LOOKUP, lookup_ns);
    if (queue)
        record_in(g, tgid, queue, STAGE_PROCESSING_TF_WAIT, waited);
    leave_generation(gw);
    if (queue) {
        struct object_key k = {.tgid = tgid, .object = queue};
        tf_queue_pairs.update(&k, &pair);
        return 0;
    }
    struct tf_thread_wait *t = tf_thread_waits.lookup(&tid);
    if (t) {
        t->wait_ns += waited;
    } else {
        struct tf_thread_wait fresh = {.first_ns = t_start, .wait_ns = waited};
        tf_thread_waits.update(&tid, &fresh);
    }
    return 0;
}

/* __cxa_throw(void *obj, std::type_info *type, void (*dest)(void *)): a lookup of this
 * thread that throws ends failed, by the thrown type's mangled name (type_info::__name
 * at +8), e.g. "N3tf215LookupExceptionE". A name in a page the process never touched
 * (catching compares type_info pointers, not names) cannot be read here: that failure
 * is TF_FAIL_UNREAD with its type kept, for user space to read (engine/tf.py). */
int on_cxa_throw(struct pt_regs *ctx)
{
    count_hit(HIT_THROW);
    u64 id = current_pid_tgid();
    u32 tid = (u32)id, tgid = id >> 32;
    struct tf_lookup *l = tf_lookups.lookup(&tid);
    if (!l)
        return 0;
    u64 pair = l->pair;
    if (PT_REGS_SP(ctx) >= l->sp) {
        tf_lookups.delete(&tid);            /* that lookup is over: not its exception */
        return 0;
    }
    char name[12] = {};
    u64 type = PT_REGS_PARM2(ctx), str = 0;
    u32 kind;
    if (bpf_probe_read_user(&str, sizeof(str), (void *)(type + 8)) ||
        bpf_probe_read_user(name, sizeof(name) - 1, (void *)str)) {
        struct object_key k = {.tgid = tgid, .object = pair};
        tf_unread_types.update(&k, &type);
        kind = TF_FAIL_UNREAD;
    } else if (name[0] != 'N' || name[1] != '3' || name[2] != 't' || name[3] != 'f' ||
               name[4] != '2') {
        return 0;                           /* not tf2's: not a lookup failure */
    } else {
        /* N3tf2 <length> <class>: the class's first letters */
        char c = name[7];
        kind = c == 'L' ? TF_FAIL_LOOKUP : c == 'C' ? TF_FAIL_CONNECTIVITY :
               c == 'E' ? TF_FAIL_EXTRAPOLATION :
               c == 'T' && name[8] == 'i' ? TF_FAIL_TIMEOUT : TF_FAIL_OTHER;
    }
    tf_lookups.delete(&tid);
    tf_waits.delete(&tid);
    record(tgid, pair, kind, 1);
    return 0;
}
