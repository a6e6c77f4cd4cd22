/* `rostrace capture`: one event per span (a processed message, a publish, a
 * timer firing, a service request) while user space has `capturing` on; off, a handler
 * pays one array lookup. The ring buffer holds 4 MiB (~50 000 events, read every 0.5 s);
 * a full buffer refuses events (LOST_SPANS) rather than block. */
#ifdef PERF_EVENTS                          /* common.c: event streams */
BPF_PERF_OUTPUT(span_events);
BPF_PERCPU_ARRAY(span_slot, struct span_event, 1);

static __always_inline struct span_event *span_reserve(void)
{
    int zero = 0;
    return span_slot.lookup(&zero);
}

static __always_inline void span_submit(void *ctx, struct span_event *e)
{
    if (span_events.perf_submit(ctx, e, sizeof(*e)))
        lose(LOST_SPANS);
}
#else
BPF_RINGBUF_OUTPUT(span_events, 1024);      /* pages: 4 MiB */

static __always_inline struct span_event *span_reserve(void)
{
    return span_events.ringbuf_reserve(sizeof(struct span_event));
}

static __always_inline void span_submit(void *ctx, struct span_event *e)
{
    span_events.ringbuf_submit(e, 0);
}
#endif
BPF_ARRAY(capturing, u32, 1);

static __always_inline bool capture_on(void)
{
    int zero = 0;
    u32 *on = capturing.lookup(&zero);
    return on && *on;
}

static __always_inline struct span_event *span_start(u32 type, u32 tgid, u32 tid, u64 object)
{
    struct span_event *e = span_reserve();
    if (!e) {
        lose(LOST_SPANS);
        return 0;
    }
    __builtin_memset(e, 0, sizeof(*e));
    e->type = type;
    e->tgid = tgid;
    e->tid = tid;
    e->object = object;
    return e;
}
