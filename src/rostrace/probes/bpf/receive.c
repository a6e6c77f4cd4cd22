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
 * See clients/roscpp/src/libros/subscription_queue.cpp (ros_comm 1.15). */
#include <uapi/linux/ptrace.h>
#include "rostrace.h"

/* calib[0]: cost of one entry+return probe pair as seen from outside it (ns);
 * calib[1]: part of that pair which falls inside the span it measures (ns). */
BPF_ARRAY(calib, u64, 2);
BPF_ARRAY(generation, u32, 1);
BPF_HASH(stats0, struct stat_key, struct stat_val, STAT_ENTRIES);
BPF_HASH(stats1, struct stat_key, struct stat_val, STAT_ENTRIES);
BPF_HASH(hist0, struct hist_key, u64, HIST_ENTRIES);
BPF_HASH(hist1, struct hist_key, u64, HIST_ENTRIES);

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
};

/* Messages pushed and not yet served. LRU: entries of dropped messages age out. */
BPF_TABLE("lru_hash", struct msg_key, u64, pending, PENDING_ENTRIES);
BPF_HASH(push_by_tid, u32, struct push_ctx, 16384);
BPF_HASH(call_by_tid, u32, struct call_ctx, 16384);

/* Probe hits per handler, so the cost per message is counted rather than assumed
 * (read by the benchmarks; one per-CPU increment per hit). */
BPF_PERCPU_ARRAY(hits, u64, 8);

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
    if (stage > STAGE_TOTAL)
        return;                 /* plain counters have no histogram */
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
    pending.update(&mk, &now);
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
    u32 tid = (u32)bpf_get_current_pid_tgid();
    struct call_ctx cc = {.queue = PT_REGS_PARM1(ctx), .start_ns = now};
    call_by_tid.update(&tid, &cc);
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
    u64 *push_ns = pending.lookup(&mk);
    if (push_ns) {
        cc->push_ns = *push_ns;
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
    if (cc && cc->deser_start_ns)
        cc->deser_ns = now - cc->deser_start_ns;
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
    }
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
