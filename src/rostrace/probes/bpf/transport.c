/* Across processes: what the publisher side (publisher.c) and the receive path
 * (subscriber.c) share to tell which sent message became which received one.
 *
 * In the kernel, once user space has registered both ends of a TCP connection in
 * `conn_ids` (the same id for the publisher's and the subscriber's socket): the sender
 * stores each message's times under (connection, content fingerprint) in `sent_msgs`,
 * the receiver's push looks them up, and the end of its callback adds the link's
 * numbers to `lstats`/`lhist` -- no per-message work in user space. Until then (a new
 * connection) and for whatever the kernel could not pair: one ring-buffer event
 * (struct xfer_event) per sent message and socket and one per processed message, which
 * user space matches per connection (rostrace/model/matching.py) -- and registers the
 * connection when it has seen both ends. Limit of the kernel's pairing: messages of
 * identical bytes on one connection are told apart by time only (the latest send of
 * those bytes before the push), where user space pairs them in order. */

/* What the sender stored for a message on a registered connection. */
struct sent_key {
    u32 conn;
    u32 len;
    u64 hash;
};

struct sent_msg {
    u64 t_publish;
    u64 t_serialized;
    u64 t_sent;
    u64 publication;
    u64 dropped;            /* messages the socket's outgoing queue dropped before it */
    u32 pub_tgid;
    u32 pq_split;           /* the sender's thread state over publish_queue is known: */
    u64 pq_busy_ns;
    u64 pq_starved_ns;
    u64 pq_idle_ns;
    u32 reader;             /* the receiving socket's poll thread at t_sent, 0 unknown, */
    u32 pad;
    u64 r_oncpu_ns;         /* ... and its counters then (sched.c) */
    u64 r_runq_ns;
    u64 r_blocked_ns;
};

/* Where a received message came from, carried from its push to its call's end. */
struct origin {
    u32 kind;               /* enum origin_kind, 0 unknown */
    u32 fd;
    u64 t_publish;          /* intra-process, or matched: the publisher's hand-off */
    u64 publication;        /* intra-process serialized, or matched: the Publication* */
    u32 matched;            /* paired in the kernel with a sent_msgs entry */
    u32 pub_tgid;
    u64 t_serialized;       /* matched */
    u64 t_sent;             /* matched */
    u64 dropped;            /* matched */
    u64 pq_busy_ns;         /* matched, when pq_split */
    u64 pq_starved_ns;
    u64 pq_idle_ns;
    u32 pq_split;
    u32 sw_split;           /* the poll thread's state over the socket wait is known: */
    u64 t_ready;            /* the message's last byte reached our socket, 0 unknown */
    u64 sw_busy_ns;
    u64 sw_starved_ns;
    u64 sw_idle_ns;
    u64 net_split;          /* the poll thread's state over the network time is known: */
    u64 net_busy_ns;
    u64 net_starved_ns;
    u64 net_idle_ns;
    struct fingerprint fp;
};

#ifdef PERF_EVENTS                          /* common.c: event streams */
BPF_PERF_OUTPUT(xfer_events);
BPF_PERCPU_ARRAY(xfer_slot, struct xfer_event, 1);

static __always_inline struct xfer_event *xfer_reserve(void)
{
    int zero = 0;
    return xfer_slot.lookup(&zero);
}

static __always_inline void xfer_submit(void *ctx, struct xfer_event *e)
{
    if (xfer_events.perf_submit(ctx, e, sizeof(*e)))
        lose(LOST_EVENTS);
}
#else
BPF_RINGBUF_OUTPUT(xfer_events, 1024);       /* pages: 4 MiB */

static __always_inline struct xfer_event *xfer_reserve(void)
{
    return xfer_events.ringbuf_reserve(sizeof(struct xfer_event));
}

static __always_inline void xfer_submit(void *ctx, struct xfer_event *e)
{
    xfer_events.ringbuf_submit(e, 0);
}
#endif

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
    u32 writer;             /* the thread that sent the process's last message, 0 none */
    u32 pad;
    u64 w_oncpu_ns;         /* its counters (sched.c) at t_serialized */
    u64 w_runq_ns;
    u64 w_blocked_ns;
};

BPF_TABLE("lru_hash", u32, u64, publish_start, 16384);   /* tid -> hand-off time */
BPF_TABLE("lru_hash", struct buf_key, struct pub_msg, pub_msgs, 65536);
BPF_TABLE("lru_hash", struct buf_key, u32, recv_bufs, 65536);  /* recv() buffer -> fd */

/* The last 4-byte read of each thread: most are TCPROS length prefixes (two of a
 * message's three reads: its length, and the read of the next length that finds the
 * socket empty), which nobody looks up, so they cost an array store instead of an LRU
 * insert; a message whose body is 4 bytes is found here at its push, which follows the
 * body's read on the same thread. A slot per thread id modulo RECV_SLOTS, tagged. */
#define RECV_SLOTS 4096
struct recv_slot {
    u32 tid;
    u32 fd;
    u64 buf;
};
BPF_ARRAY(recv_slots, struct recv_slot, RECV_SLOTS);
BPF_HASH(conn_ids, struct sock_key, u32, 16384);                /* written by user space */
BPF_HASH(conn_receivers, u32, struct sock_key, 16384);          /* conn -> subscriber's end */
BPF_TABLE("lru_hash", struct sent_key, struct sent_msg, sent_msgs, 65536);
BPF_TABLE("lru_hash", u32, u32, senders, 4096);        /* tgid -> thread of its last send */
BPF_HASH(lstats0, struct link_key, struct link_stats, STAT_ENTRIES);
BPF_HASH(lstats1, struct link_key, struct link_stats, STAT_ENTRIES);
BPF_ARRAY(zero_link, struct link_stats, 1);     /* never written: a zero link_stats */
BPF_HASH(lhist0, struct link_hist_key, struct hist_group, HIST_ENTRIES);
BPF_HASH(lhist1, struct link_hist_key, struct hist_group, HIST_ENTRIES);

/* The link's value in generation g (created on first use), or 0. */
static __always_inline struct link_stats *link_stats_of(u32 g, struct link_key *lk)
{
    u32 index = 0;
    struct link_stats *zero = zero_link.lookup(&index);     /* too large for the stack */
    if (!zero)
        return 0;
    struct link_stats *ls = g ? lstats1.lookup_or_try_init(lk, zero)
                              : lstats0.lookup_or_try_init(lk, zero);
    if (!ls)
        lose(LOST_STATS);
    return ls;
}

/* One value of a link record (and its histogram bucket, for durations). */
static __always_inline void link_add(struct link_stats *ls, u32 g, struct link_key *lk,
                                     u32 rec, u64 value_ns)
{
    struct stat_val *s = &ls->rec[rec];
    if (!s->count)
        s->min_ns = value_ns;
    stat_add(s, value_ns);
    if (!LINK_HAS_HISTOGRAM(rec) || !value_ns)
        return;             /* counts and splits have none; zeros are what buckets miss */
    u32 bucket = bucket_of(value_ns);
    u32 zero = 0;
    struct hist_group *init = zero_hist.lookup(&zero);     /* off the BPF stack */
    if (!init)
        return;
    struct link_hist_key hk = {.link = *lk, .record = rec, .group = bucket / HIST_GROUP};
    struct hist_group *h = g ? lhist1.lookup_or_try_init(&hk, init)
                             : lhist0.lookup_or_try_init(&hk, init);
    if (h)
        __sync_fetch_and_add(&h->n[hist_slot(bucket)], 1);
    else
        lose(LOST_HIST);
}

/* A matched message's crossing, as every receiver records it (subscriber.c at the end
 * of its callback, rospy.c at its read): publish queue (serialized -> first send; no
 * serialized time: a rospy sender), transport (hand-off -> `received`) and, when the
 * arrival of its last byte `t_ready` is known and in order, network and socket wait.
 * True in that last case. */
static __always_inline bool link_crossing(struct link_stats *ls, u32 g, struct link_key *lk,
                                          u64 t_publish, u64 t_serialized, u64 t_sent,
                                          u64 t_ready, u64 received)
{
    if (t_serialized && t_sent >= t_serialized)
        link_add(ls, g, lk, LINK_PUBLISH_QUEUE, t_sent - t_serialized);
    if (t_publish && received > t_publish)
        link_add(ls, g, lk, LINK_TRANSPORT, received - t_publish);
    if (!t_ready || t_ready < t_sent || t_ready > received)
        return false;
    link_add(ls, g, lk, LINK_NETWORK, t_ready - t_sent);
    link_add(ls, g, lk, LINK_SOCKET_WAIT, received - t_ready);
    return true;
}

/* What the sending thread did over the publish queue (publisher.c), when known. */
static __always_inline void link_sender_split(struct link_stats *ls, u32 g, struct link_key *lk,
                                              u32 known, u64 busy_ns, u64 starved_ns,
                                              u64 idle_ns)
{
    if (!known)
        return;
    link_add(ls, g, lk, LINK_PUBLISH_QUEUE_BUSY, busy_ns);
    link_add(ls, g, lk, LINK_PUBLISH_QUEUE_STARVED, starved_ns);
    link_add(ls, g, lk, LINK_PUBLISH_QUEUE_IDLE, idle_ns);
}

/* A fingerprint in two steps, for a message whose head and tail come in different
 * reads (rospy.c): the hash of its length and head, then of its tail. */
static __always_inline u64 fingerprint_head(u8 head[FP_HEAD], u64 data, u64 len)
{
    u32 n = len < FP_HEAD ? (u32)len : FP_HEAD;
    if (n > 0 && n <= FP_HEAD)
        bpf_probe_read_user(head, n, (void *)data);
    u64 h = 14695981039346656037ULL ^ len;
#pragma unroll
    for (int i = 0; i < FP_HEAD; i++) {
        if (i < n)
            h = (h ^ head[i]) * 1099511628211ULL;
    }
    return h;
}

/* `end`: the address just after the message's last byte. */
static __always_inline u64 fingerprint_tail(u64 h, u8 tail[FP_TAIL], u64 end, u64 len)
{
    if (len >= FP_HEAD + FP_TAIL)
        bpf_probe_read_user(tail, FP_TAIL, (void *)(end - FP_TAIL));
#pragma unroll
    for (int i = 0; i < FP_TAIL; i++)
        h = (h ^ tail[i]) * 1099511628211ULL;  /* zero when not read */
    return h;
}

static __always_inline void fingerprint(struct fingerprint *fp, u64 data, u64 len)
{
    fp->len = (u32)len;
    fp->hash = fingerprint_tail(fingerprint_head(fp->head, data, len), fp->tail,
                                data + len, len);
}
