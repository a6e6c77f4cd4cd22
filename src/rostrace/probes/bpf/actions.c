/* actionlib, observed on the action's own topics (engine/actions.py): no uprobe of its
 * own. In a process flagged TGID_ACTIONS the push and publish handlers copy the first
 * bytes of each message of an action topic into `action_events`; user space reads the
 * goal ids and states from them (actionlib is templates in the user's binary: its
 * functions have no stable symbols, its messages do).
 *
 * `action_objects` (SubscriptionQueue* / Publication* of the process) -> bytes to copy:
 * 0 for an object user space found is not an action topic. An object user space has
 * not looked at yet gets ACTION_PROBE_EVENTS messages copied (ACTION_UNKNOWN_BYTES each)
 * so that it can tell; after that it is silent until user space decided. */
#define ACTION_UNKNOWN_BYTES 256
#define ACTION_UNKNOWN_FLAG 0x80000000U     /* value: unknown, low bits = events left */

BPF_HASH(action_objects, struct object_key, u32, 4096);
#ifdef PERF_EVENTS                          /* common.c: event streams */
BPF_PERF_OUTPUT(action_events);
#else
BPF_RINGBUF_OUTPUT(action_events, 256);     /* pages: 1 MiB */
#endif

BPF_PERCPU_ARRAY(action_scratch, struct action_event, 1);

static __always_inline void action_capture(void *ctx, u32 tgid, u64 object, u64 data, u64 len, u64 t,
                                           u32 side)
{
    struct object_key k = {.tgid = tgid, .object = object};
    u32 fresh = ACTION_UNKNOWN_FLAG | ACTION_PROBE_EVENTS;
    u32 *cap = action_objects.lookup_or_try_init(&k, &fresh);
    if (!cap || !*cap || !data)
        return;
    u32 want = *cap;
    if (want & ACTION_UNKNOWN_FLAG) {
        if (!(want & ~ACTION_UNKNOWN_FLAG))
            return;
        __sync_fetch_and_add(cap, -1);
        want = ACTION_UNKNOWN_BYTES;
    }
    int zero = 0;
    struct action_event *e = action_scratch.lookup(&zero);
    if (!e)
        return;
    e->t = t;
    e->object = object;
    e->tgid = tgid;
    e->side = side;
    e->len = len;
    u32 n = len < want ? len : want;
    n &= ACTION_BYTES - 1;                  /* bounded for the verifier */
    if (bpf_probe_read_user(e->data, n, (void *)data))
        n = 0;
    e->copied = n;
    /* Only the bytes copied go out. */
    u32 size = offsetof(struct action_event, data) + n;
#ifdef PERF_EVENTS
    if (action_events.perf_submit(ctx, e, size))
#else
    if (action_events.ringbuf_output(e, size, 0))
#endif
        lose(LOST_EVENTS);
}
