/* What every part of the program uses: which processes are traced (set by user space
 * on attach), the per-window aggregation user space reads, the probe-hit counters and
 * the calibrated probe cost.
 *
 * Aggregation: record() adds one value to the (tgid, record, object) entry of the
 * current generation -- count, sum, min, max and, for durations, a log-linear
 * histogram bucket. A SubscriptionQueue's records share one value (queue_stats(),
 * queue_add()): one lookup per handler. User space flips `generation` once per window
 * and drains the other one, so its cost does not grow with the message rate.
 *
 * No sample is lost at the flip: record() announces itself in `writers` of the
 * generation it writes before writing and re-reads `generation` after announcing;
 * user space flips, then waits until the old generation has no writer on any CPU
 * before it drains it. Either user space sees the writer, or the writer sees the flip (both
 * sides order their write before their read: lock xadd here, syscalls there). */

/* Linux < 5.5 has no bpf_probe_read_user/_kernel: there bpf_probe_read reads user memory too
 * (x86, arm64: one address space per task). User space defines NO_PROBE_READ_USER there
 * (or with ROSTRACE_NO_PROBE_READ_USER=1, the test switch; probes/program.py). */
#ifdef NO_PROBE_READ_USER
#define bpf_probe_read_user bpf_probe_read
#define bpf_probe_read_user_str bpf_probe_read_str
#define bpf_probe_read_kernel bpf_probe_read
#endif

/* Process and thread ids as the monitor sees them: the kernel's own (the initial PID
 * namespace) unless the monitor runs in another PID namespace (a container, a simulated
 * host in the tests): then user space compiles with PIDNS_DEV/PIDNS_INO, ids are that
 * namespace's (those of its /proc), and tasks outside it read as id 0 (never traced). */
#ifdef PIDNS_INO
static __always_inline u64 current_pid_tgid(void)
{
    struct bpf_pidns_info ns = {};
    bpf_get_ns_current_pid_tgid(PIDNS_DEV, PIDNS_INO, &ns, sizeof(ns));  /* zeroed on error */
    return ((u64)ns.tgid << 32) | ns.pid;
}
#else
#define current_pid_tgid() bpf_get_current_pid_tgid()
#endif

BPF_HASH(traced_tgids, u32, u8, 4096);      /* receive path attached */
BPF_HASH(publisher_tgids, u32, u8, 4096);   /* publish side attached */
BPF_HASH(audited_tgids, u32, u8, 1024);     /* real-time audit (audit.c) */

/* A first test, before any hash lookup, in the handlers every task on the machine runs
 * (the scheduler, page-fault and syscall tracepoints): one byte per id modulo
 * ID_FILTER_SLOTS, in arrays whose lookups the verifier inlines (a load: no hashing, no
 * bucket walk, 64 KiB that stay in cache). A set byte means "maybe": the hash map
 * decides. tgid_filter is set by user space with an entry of traced_tgids,
 * publisher_tgids or audited_tgids, tid_filter by thread_of() (sched.c); neither is
 * cleared while the program runs: an id reused by an untraced task costs that task the
 * hash lookup, as before the filter. */
BPF_ARRAY(tgid_filter, u64, ID_FILTER_WORDS);
BPF_ARRAY(tid_filter, u64, ID_FILTER_WORDS);

#define ID_WORD(id) ((u32)((id) / 8) % ID_FILTER_WORDS)

static __always_inline bool tgid_maybe(u32 tgid)
{
    u32 word = ID_WORD(tgid);
    u8 *bytes = (u8 *)tgid_filter.lookup(&word);
    return bytes && bytes[tgid & 7];
}

static __always_inline bool tid_maybe(u32 tid)
{
    u32 word = ID_WORD(tid);
    u8 *bytes = (u8 *)tid_filter.lookup(&word);
    return bytes && bytes[tid & 7];
}

/* A single byte store: the other ids of the word, set on other CPUs, stay. */
static __always_inline void tid_mark(u32 tid)
{
    u32 word = ID_WORD(tid);
    u8 *bytes = (u8 *)tid_filter.lookup(&word);
    if (bytes && !bytes[tid & 7])
        bytes[tid & 7] = 1;
}

BPF_ARRAY(generation, u32, 1);
/* record() calls in flight, per generation; per CPU (a handler enters and leaves on one
 * CPU), so that a message's handlers on two CPUs do not bounce one cache line. */
BPF_PERCPU_ARRAY(writers, u64, 2);
BPF_HASH(stats0, struct stat_key, struct stat_val, STAT_ENTRIES);
BPF_HASH(stats1, struct stat_key, struct stat_val, STAT_ENTRIES);
BPF_HASH(hist0, struct hist_key, struct hist_group, HIST_ENTRIES);
BPF_ARRAY(zero_hist, struct hist_group, 1);    /* never written: a zero hist_group */
BPF_HASH(hist1, struct hist_key, struct hist_group, HIST_ENTRIES);
BPF_HASH(qstats0, struct object_key, struct queue_stats, QUEUE_ENTRIES);
BPF_HASH(qstats1, struct object_key, struct queue_stats, QUEUE_ENTRIES);
BPF_ARRAY(qstats_init, struct queue_stats, 1);

/* calib[0]: cost of one entry+return probe pair as seen from outside it (ns);
 * calib[1]: part of that pair which falls inside the span it measures (ns). */
BPF_ARRAY(calib, u64, 2);

BPF_PERCPU_ARRAY(hits, u64, HIT_COUNT);
BPF_ARRAY(lost, u64, LOST_COUNT);           /* enum lost_kind */

static __always_inline void count_hit(u32 handler)
{
    u64 *n = hits.lookup(&handler);
    if (n)
        (*n)++;
}

static __always_inline void lose(u32 kind)
{
    u64 *n = lost.lookup(&kind);
    if (n)
        __sync_fetch_and_add(n, 1);
}

/* Event streams to user space (transport.c, capture.c, actions.c): the BPF ring buffer
 * (Linux 5.8+), an event reserved in it, filled, submitted. Where the kernel has none
 * (or with ROSTRACE_NO_RINGBUF=1, the test switch; probes/program.py) PERF_EVENTS is
 * defined: each stream is a per-CPU perf buffer, the event is filled in a per-CPU slot
 * and copied out by perf_submit, which needs the program's context (the `ctx` the
 * handlers pass down). Per-CPU buffers do not keep the order between CPUs: user space
 * sorts by time (program.py EventStream). A full buffer refuses the event, counted as
 * with the ring buffer. Each stream has its own reserve/submit pair: BCC rewrites map
 * calls only outside macros. */

static __always_inline u64 calib_ns(u32 index)
{
    u64 *v = calib.lookup(&index);
    return v ? *v : 0;
}

static __always_inline u64 delta(u64 end, u64 start)
{
    return end > start ? end - start : 0;
}

static __always_inline u32 current_generation(void)
{
    u32 zero = 0;
    u32 *gen = generation.lookup(&zero);
    return gen ? *(volatile u32 *)gen & 1 : 0;
}

static __always_inline void stat_add(struct stat_val *s, u64 value_ns)
{
    __sync_fetch_and_add(&s->count, 1);
    __sync_fetch_and_add(&s->sum_ns, value_ns);
    if (value_ns < s->min_ns)
        s->min_ns = value_ns;   /* racy across CPUs: min/max may miss a concurrent sample */
    if (value_ns > s->max_ns)
        s->max_ns = value_ns;
}

/* A bucket's place in its hist_group. Copied through a helper so that the verifier does
 * not tie the index to the branches of bucket_of(): tied, it could not prune the paths of
 * a handler that adds several histograms (E2BIG on SubscriptionQueue::call's return). */
static __always_inline u32 hist_slot(u32 bucket)
{
    u32 sub = bucket % HIST_GROUP, slot = 0;
    bpf_probe_read_kernel(&slot, sizeof(slot), &sub);
    return slot & (HIST_GROUP - 1);
}

/* Zero durations (a callback never preempted spent 0 ns in the runqueue) get no
 * histogram entry: user space puts count - sum(buckets) into bucket 0 when min is 0. */
static __always_inline void hist_add(u32 g, u32 tgid, u64 object, u32 rec, u64 value_ns)
{
    if (!value_ns)
        return;
    u32 bucket = bucket_of(value_ns);
    u32 zero = 0;
    struct hist_group *init = zero_hist.lookup(&zero);     /* off the BPF stack */
    if (!init)
        return;
    struct hist_key hk = {.tgid = tgid, .record = rec, .object = object,
                          .group = bucket / HIST_GROUP};
    struct hist_group *h = g ? hist1.lookup_or_try_init(&hk, init)
                             : hist0.lookup_or_try_init(&hk, init);
    if (h)
        __sync_fetch_and_add(&h->n[hist_slot(bucket)], 1);
    else
        lose(LOST_HIST);
}

static __always_inline void record_in(u32 g, u32 tgid, u64 object, u32 rec, u64 value_ns)
{
    struct stat_key sk = {.tgid = tgid, .record = rec, .object = object};
    struct stat_val init = {.count = 0, .sum_ns = 0, .min_ns = value_ns, .max_ns = value_ns};
    struct stat_val *s = g ? stats1.lookup_or_try_init(&sk, &init)
                           : stats0.lookup_or_try_init(&sk, &init);
    if (!s) {
        lose(LOST_STATS);
        return;
    }
    stat_add(s, value_ns);
    if (HAS_HISTOGRAM(rec))
        hist_add(g, tgid, object, rec, value_ns);
}

/* Enter the current generation as a writer: every record_in()/gauge_in() until
 * leave_generation() goes to generation *g, which user space drains only once its
 * writers have left. Returns the writers counter to leave, or 0 (then write nothing). */
static __always_inline u64 *enter_generation(u32 *g)
{
    *g = current_generation();
    u64 *w = writers.lookup(g);
    if (!w)
        return 0;
    __sync_fetch_and_add(w, 1);
    u32 now_g = current_generation();
    if (now_g != *g) {          /* flipped meanwhile: user space may be draining *g */
        __sync_fetch_and_add(w, -1);
        *g = now_g;
        w = writers.lookup(g);
        if (w)
            __sync_fetch_and_add(w, 1);
    }
    return w;
}

static __always_inline void leave_generation(u64 *w)
{
    __sync_fetch_and_add(w, -1);
}

/* One value into the current generation (handlers writing several use
 * enter_generation() once and record_in()). */
static __always_inline void record(u32 tgid, u64 object, u32 rec, u64 value_ns)
{
    u32 g;
    u64 *w = enter_generation(&g);
    if (!w)
        return;
    record_in(g, tgid, object, rec, value_ns);
    leave_generation(w);
}

/* subscriber.c: which histogram group each stage of a queue had its last sample outside
 * the value's own entry in (queue_states), and where such a sample notes its group. */
static __always_inline void seed_hot(struct queue_stats *qs, u32 tgid, u64 queue);
static __always_inline void note_hot_miss(u32 tgid, u64 queue, u32 rec, u32 group);

/* The records of queue `queue` in generation g (created on first use), or 0. The CPU
 * whose insert created the value chooses its stages' histogram groups (seed_hot), once:
 * until then they have none, and a value's group never changes while it is written. */
static __always_inline struct queue_stats *queue_stats(u32 g, u32 tgid, u64 queue)
{
    struct object_key k = {.tgid = tgid, .object = queue};
    struct queue_stats *qs = g ? qstats1.lookup(&k) : qstats0.lookup(&k);
    if (qs)
        return qs;
    u32 zero = 0;
    struct queue_stats *init = qstats_init.lookup(&zero);
    if (!init)
        return 0;
    /* BPF_NOEXIST: a racing CPU's entry stays, and that CPU seeds it. */
    int created = g ? qstats1.insert(&k, init) : qstats0.insert(&k, init);
    qs = g ? qstats1.lookup(&k) : qstats0.lookup(&k);
    if (!qs)
        lose(LOST_STATS);
    else if (created == 0)
        seed_hot(qs, tgid, queue);
    return qs;
}

/* A queue stage's sample into its histogram: the value's own entry when the sample falls
 * in its group, else hist0/1. */
static __always_inline void queue_hist(struct queue_stats *qs, u32 g, u32 tgid, u64 queue,
                                       u32 rec, u64 value_ns)
{
    if (!value_ns)
        return;
    if (rec < HOT_STAGES) {
        u32 bucket = bucket_of(value_ns), group = bucket / HIST_GROUP;
        struct hot_hist *h = &qs->hot[rec];
        if (h->group1 == group + 1) {
            __sync_fetch_and_add(&h->n[hist_slot(bucket)], 1);
            return;
        }
        note_hot_miss(tgid, queue, rec, group);
    }
    hist_add(g, tgid, queue, rec, value_ns);
}

/* The stage samples of one message (values[rec], 0: none) into their histograms: one
 * copy of the code in a loop the compiler keeps (BCC loads no program over 4096
 * instructions, and ten inlined copies do not fit beside the rest of a callback's end;
 * a noinline function is no way out: BCC does not link calls across its sections). */
static __always_inline void queue_hists(struct queue_stats *qs, u32 g, u32 tgid, u64 queue,
                                        u64 *values)
{
#pragma clang loop unroll(disable)
    for (u32 rec = 0; rec < HOT_STAGES; rec++)      /* every one a stage with a histogram */
        queue_hist(qs, g, tgid, queue, rec, values[rec]);
}

/* One value of a queue record (its histogram too, for durations). */
static __always_inline void queue_add(struct queue_stats *qs, u32 g, u32 tgid, u64 queue,
                                      u32 rec, u64 value_ns)
{
    stat_add(&qs->rec[rec], value_ns);
    if (HAS_HISTOGRAM(rec))
        queue_hist(qs, g, tgid, queue, rec, value_ns);
}

/* One stage value of a message whose histogram samples queue_hists() adds later. */
static __always_inline void queue_stage(struct queue_stats *qs, u64 *values, u32 rec,
                                        u64 value_ns)
{
    stat_add(&qs->rec[rec], value_ns);
    values[rec] = value_ns;
}

/* The last value of a queue gauge (count = writes, sum = value). */
static __always_inline void queue_gauge(struct queue_stats *qs, u32 rec, u64 value)
{
    struct stat_val *s = &qs->rec[rec];
    s->count += 1;
    s->sum_ns = value;
    s->min_ns = value;
    s->max_ns = value;
}
