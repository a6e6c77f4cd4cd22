/* rospy subscribers, from the syscall tracepoints sockets.c already has (no uprobe, no
 * probe in the interpreter).
 *
 * rospy has no callback queue: each publisher connection has a thread that reads the
 * socket (socket.recv -> recvfrom), deserializes every complete message it holds (all
 * but the last queue_size are discarded first), runs the callbacks of each and reads
 * again (rospy/impl/tcpros_base.py receive_once, receive_loop; msg.py
 * deserialize_messages). So, per registered socket (rospy_socks, written by user space
 * from the node's getBusInfo and checked against /proc):
 *   - the TCPROS framing (a 4-byte little-endian length, then the message) is followed
 *     over the bytes each read returns: a read that takes the last byte of k messages
 *     received them (COUNT_RECEIVED k);
 *   - socket wait (STAGE_QUEUING of the connection): per message, from the arrival of
 *     the segment holding its last byte (sockets.c's ring of the socket) to the read;
 *   - processing: from that read's return to the thread's next turn at the socket
 *     (receive_once's setblocking ioctl, else the next read) is deserialization and
 *     the callbacks of those k messages; each gets 1/k of it, and
 *     of the thread's on-CPU / runqueue / blocked time meanwhile (sched.c; a thread
 *     waiting for the GIL is blocked on a futex, or runnable after its wake-up).
 * Dropped messages (queue_size pruning) are rospy's delivered count (getBusStats)
 * against `frames` in user space: the kernel cannot see the pruning.
 *
 * Framing starts when the socket is registered, maybe inside a message: a read is
 * taken to start at a message boundary; its messages count when it ends exactly at one
 * (a chain of lengths that ends there is no accident), else from the next read on;
 * a length over ROSPY_MAX_LEN, a length prefix split between two reads (TCP may cut
 * there) or more than ROSPY_MAX_FRAMES messages in one read end the framing
 * (lost_sync) until a read ends at a boundary again. Untrusted bytes
 * only ever steer these counters. */
#define ROSPY_MAX_LEN (1ULL << 30)          /* roscpp refuses messages over 1 GB */

/* x & mask with the mask kept: the compiler forgets what it knew of x, so it cannot drop
 * the mask after a bounds test the verifier does not tie to this register. */
static __always_inline u32 masked(u32 x, u32 mask)
{
    asm volatile("" : "+r"(x));
    return x & mask;
}

struct rospy_read {
    u64 buf;
    u32 fd;
    u32 pad;
};

/* Kept in a map, not in registers: the verifier then walks the handler once for every
 * count instead of once per count (it does not fit the verifier's budget otherwise). */
struct rospy_frames {
    u32 count;
    u32 match;                      /* rospy_match() has this read to look at */
    u64 end[ROSPY_MAX_FRAMES];      /* offsets in the read just after each message */
    u64 cur_start;                  /* the walk's message: its body's offset in the read, */
    u64 cur_len;                    /* its length, */
    u32 cur_here;                   /* its length prefix was in this read */
    u32 last_here;                  /* ... the same of the last message completed */
    u64 last_start;
    u64 last_len;
    u32 open;                       /* a message begun in this read goes on in the next */
    u32 fd;                         /* the read, for rospy_match() */
    u64 buf;
    u64 got;
    u64 t_read;                     /* the read's return, when it completed messages */
    u32 tgid;
    u32 tid;
};

/* The hash of a message's length and head (transport.c fingerprint_head), taken at the
 * read that began it, for the read that ends it. */
struct rospy_head {
    u64 len;
    u64 hash;
};

/* The messages of a socket's last read, dated at the next read (their processing ended
 * then): where they ended in the socket's byte count, and the socket's unread segments
 * (sockets.c) as the read found them. Walking both in the read's own handler, after the
 * framing, is more than the verifier takes. */
struct rospy_batch {
    u64 base;                       /* the socket's byte count before the read */
    u64 end[ROSPY_MAX_FRAMES];      /* offsets in the read just after each message */
    u64 seg_end[RX_RING];           /* unread segments, oldest first */
    u64 seg_len[RX_RING];
    u64 seg_t[RX_RING];
    u32 waiting[RX_RING];           /* messages whose last byte each segment held */
    u32 segs;
    u32 walk_frame;                 /* the walk's place, in the map: two counters in */
    u32 walk_seg;                   /* registers are a state per pair to the verifier */
    u32 pad;
};

BPF_HASH(rospy_socks, struct sock_key, struct rospy_sock, 4096);   /* created by user space */
BPF_TABLE("lru_hash", struct sock_key, struct rospy_batch, rospy_batches, 4096);
BPF_PERCPU_ARRAY(rospy_batch_init, struct rospy_batch, 1);          /* never written: zero */
BPF_TABLE("lru_hash", u32, struct rospy_read, rospy_reads, 4096);   /* tid -> read under way */
BPF_PERCPU_ARRAY(rospy_scratch, struct rospy_frames, 1);
BPF_TABLE("lru_hash", struct sock_key, struct rospy_head, rospy_heads, 4096);

/* A reader thread's last matched message, for what its callbacks publish
 * (publisher.c rospy_sent; paths.c). */
struct rospy_input {
    u32 fd;
    u32 pad;
    u64 t_read;                     /* == its socket's batch_ns while they run */
    struct msg_id id;
};
BPF_TABLE("lru_hash", u32, struct rospy_input, rospy_inputs, 4096);
BPF_PROG_ARRAY(rospy_tail, 1);                  /* [0]: rospy_match, set by user space */

static __always_inline u64 rospy_object(u32 fd)
{
    return (1ULL << ROSPY_OBJECT_SHIFT) | fd;
}

/* `n` samples of one value into a queue record's counters (no histogram). */
static __always_inline void rospy_stat_n(struct queue_stats *qs, u32 rec, u64 value, u32 n)
{
    struct stat_val *s = &qs->rec[rec];
    __sync_fetch_and_add(&s->count, n);
    __sync_fetch_and_add(&s->sum_ns, value * n);
    if (value < s->min_ns)
        s->min_ns = value;
    if (value > s->max_ns)
        s->max_ns = value;
}

/* ... and into its histogram, for durations: what queue_add() does n times, with one
 * update of each counter. */
static __always_inline void rospy_add_n(struct queue_stats *qs, u32 g, u32 tgid, u64 object,
                                        u32 rec, u64 value, u32 n)
{
    rospy_stat_n(qs, rec, value, n);
    if (!value || !HAS_HISTOGRAM(rec))
        return;
    u32 bucket = bucket_of(value), group = bucket / HIST_GROUP;
    if (rec < HOT_STAGES) {
        struct hot_hist *h = &qs->hot[rec];
        if (h->group1 == group + 1) {
            __sync_fetch_and_add(&h->n[hist_slot(bucket)], n);
            return;
        }
        note_hot_miss(tgid, object, rec, group);
    }
    u32 zero = 0;
    struct hist_group *init = zero_hist.lookup(&zero);
    if (!init)
        return;
    struct hist_key hk = {.tgid = tgid, .record = rec, .object = object, .group = group};
    struct hist_group *hg = g ? hist1.lookup_or_try_init(&hk, init)
                              : hist0.lookup_or_try_init(&hk, init);
    if (hg)
        __sync_fetch_and_add(&hg->n[hist_slot(bucket)], n);
    else
        lose(LOST_HIST);
}

/* The previous read's messages were processed from its return until now. */
static __always_inline void rospy_batch_done(struct rospy_sock *rs, u32 tgid, u32 fd,
                                             u32 tid, u64 now)
{
    u32 k = rs->batch_frames;
    if (!k || k > ROSPY_MAX_FRAMES)
        return;
    struct acct_snap snap = {};
    snapshot(tid, now, &snap);
    u64 object = rospy_object(fd);
    u32 g;
    u64 *w = enter_generation(&g);
    if (!w)
        return;
    struct queue_stats *qs = queue_stats(g, tgid, object);
    struct sock_key sk = {.tgid = tgid, .fd = fd};
    struct rospy_batch *b = rospy_batches.lookup(&sk);
    if (qs && b) {
        /* Socket wait: each message from the arrival of the segment holding its last
         * byte to the read; messages of one segment waited alike. Messages and
         * segments are both in byte order: one walk. */
#pragma unroll
        for (int s = 0; s < RX_RING; s++)
            b->waiting[s] = 0;
        b->walk_frame = 0;
        b->walk_seg = 0;
#pragma clang loop unroll(disable)
        for (u32 step = 0; step < ROSPY_MAX_FRAMES + RX_RING; step++) {
            u32 i = b->walk_frame, seg = b->walk_seg;
            if (i >= k || seg >= b->segs || seg >= RX_RING)
                break;
            u32 at = masked(seg, RX_RING - 1);
            u64 end = b->base + b->end[masked(i, ROSPY_MAX_FRAMES - 1)];
            if (b->seg_end[at] < end) {
                b->walk_seg = seg + 1;
                continue;
            }
            if (b->seg_end[at] - b->seg_len[at] < end)
                b->waiting[at]++;
            b->walk_frame = i + 1;
        }
#pragma clang loop unroll(disable)
        for (u32 s = 0; s < RX_RING; s++) {
            u32 at = s & (RX_RING - 1);
            u64 t = b->seg_t[at];
            if (b->waiting[at] && t && t <= rs->batch_ns)
                rospy_stat_n(qs, STAGE_QUEUING, rs->batch_ns - t, b->waiting[at]);
        }
    }
    if (qs) {
        rospy_add_n(qs, g, tgid, object, COUNT_PROCESSED, 1, k);
        rospy_add_n(qs, g, tgid, object, STAGE_PROCESSING, (now - rs->batch_ns) / k, k);
        rospy_add_n(qs, g, tgid, object, STAGE_PROCESSING_ONCPU,
                    delta(snap.oncpu_ns, rs->oncpu_ns) / k, k);
        rospy_add_n(qs, g, tgid, object, STAGE_PROCESSING_RUNQUEUE,
                    delta(snap.runq_ns, rs->runq_ns) / k, k);
        rospy_add_n(qs, g, tgid, object, STAGE_PROCESSING_BLOCKED,
                    delta(snap.blocked_ns, rs->blocked_ns) / k, k);
    }
    leave_generation(w);
}

/* sys_enter_recvfrom of a TGID_ROSPY process. */
static __always_inline void rospy_recv_enter(u32 tgid, u32 tid, u32 fd, u64 buf)
{
    /* Every read of the process is noted: a socket registered while its thread waits
     * in recvfrom counts the message that read returns. */
    struct rospy_read r = {.buf = buf, .fd = fd};
    rospy_reads.update(&tid, &r);
    struct sock_key sk = {.tgid = tgid, .fd = fd};
    struct rospy_sock *rs = rospy_socks.lookup(&sk);
    if (!rs)
        return;
    if (rs->batch_ns && rs->batch_tid == tid)
        rospy_batch_done(rs, tgid, fd, tid, bpf_ktime_get_ns());
    rs->batch_ns = 0;
    rs->in_recv = 1;
}

/* rospy's receive_once() begins with sock.setblocking(1) (an FIONBIO ioctl on the
 * socket): the callbacks of the previous read have returned. Processing ends there, not
 * at the next read, which leaves out receive_loop's own turn. */
#ifndef NO_TP_RECVFROM          /* features.py TRACEPOINTS: syscall tracepoints */
#define FIONBIO_ 0x5421
TRACEPOINT_PROBE(syscalls, sys_enter_ioctl)
{
    if (args->cmd != FIONBIO_)
        return 0;
    u64 id = current_pid_tgid();
    u32 tgid = id >> 32, tid = (u32)id;
    if (!tgid_maybe(tgid))
        return 0;
    struct sock_key sk = {.tgid = tgid, .fd = (u32)args->fd};
    struct rospy_sock *rs = rospy_socks.lookup(&sk);
    if (!rs || !rs->batch_ns || rs->batch_tid != tid)
        return 0;
    rospy_batch_done(rs, tgid, sk.fd, tid, bpf_ktime_get_ns());
    rs->batch_ns = 0;
    return 0;
}
#endif

static __always_inline void rospy_add_frame(struct rospy_frames *out, u64 end)
{
    u32 n = out->count;
    if (n < ROSPY_MAX_FRAMES)
        out->end[n & (ROSPY_MAX_FRAMES - 1)] = end;
    out->count = n + 1;
    out->last_here = out->cur_here;
    out->last_start = out->cur_start;
    out->last_len = out->cur_len;
}

/* Follow the framing over `got` bytes at `buf`: the offsets just after each message
 * completed into `out` (count 0 when the framing was lost). */
static __always_inline void rospy_frame(struct rospy_sock *rs, u64 buf, u64 got,
                                       struct rospy_frames *out)
{
    u64 off = 0, need = rs->need;
    bool lost = false;
    out->count = 0;
    out->cur_here = 0;              /* a message begun in an earlier read, if need */
    out->last_here = 0;
    out->open = 0;
#pragma clang loop unroll(disable)
    for (u32 i = 0; i < 2 * ROSPY_MAX_FRAMES + 2; i++) {
        if (off >= got)
            break;
        u64 left = got - off;
        if (need) {                             /* inside a message's body */
            if (need > left) {
                need -= left;
                off = got;
                break;
            }
            off += need;
            need = 0;
            rospy_add_frame(out, off);
            continue;
        }
        if (left < 4) {                         /* a length prefix split across reads */
            lost = true;
            break;
        }
        u32 len = 0;
        bpf_probe_read_user(&len, sizeof(len), (void *)(buf + off));   /* little-endian */
        off += 4;
        if (len > ROSPY_MAX_LEN) {
            lost = true;
            break;
        }
        need = len;
        out->cur_start = off;
        out->cur_len = len;
        out->cur_here = 1;
        if (!need)
            rospy_add_frame(out, off);
    }
    if (off < got)
        lost = true;                            /* more messages than one walk takes */
    u32 n = out->count;
    if (lost || n > ROSPY_MAX_FRAMES) {
        if (rs->synced)
            rs->lost_sync++;
        rs->synced = 0;
        rs->need = 0;
        out->count = 0;
        return;
    }
    rs->need = need;
    rs->synced = need ? (rs->synced ? rs->synced : 1) : 2;
    out->open = need && out->cur_here;
}

/* sys_exit_recvfrom of a TGID_ROSPY process (before sockets.c consumes the socket's
 * segments: their arrivals date the messages). True for a registered rospy socket. */
static __always_inline bool rospy_recv_exit(u32 tgid, u32 tid, long got)
{
    struct rospy_read *r = rospy_reads.lookup(&tid);
    if (!r)
        return false;
    struct rospy_read read = *r;
    rospy_reads.delete(&tid);
    struct sock_key sk = {.tgid = tgid, .fd = read.fd};
    struct rospy_sock *rs = rospy_socks.lookup(&sk);
    if (!rs)
        return false;
    rs->in_recv = 0;
    u32 zero = 0;
    struct rospy_frames *frames = rospy_scratch.lookup(&zero);
    if (!frames)
        return true;
    frames->count = 0;
    frames->match = 0;
    if (got > 0) {
        bool was_synced = rs->synced != 0;
        rospy_frame(rs, read.buf, got, frames);
        if (!was_synced && rs->synced != 2)
            frames->count = 0;  /* found a boundary, not sure of it yet: no count */
        if (rs->synced == 2 && conn_ids.lookup(&sk)) {
            frames->match = 1;  /* a traced publisher's connection (transport.c) */
            frames->tgid = tgid;
            frames->fd = read.fd;
            frames->buf = read.buf;
            frames->got = got;
            frames->tid = tid;
            frames->t_read = 0;
        }
    }
    u32 n = frames->count;
    if (n && n <= ROSPY_MAX_FRAMES) {
        u64 now = bpf_ktime_get_ns();
        struct acct_snap snap = {};
        snapshot(tid, now, &snap);
        rs->batch_ns = now;
        rs->batch_tid = tid;
        frames->t_read = now;
        rs->batch_frames = n;
        rs->oncpu_ns = snap.oncpu_ns;
        rs->runq_ns = snap.runq_ns;
        rs->blocked_ns = snap.blocked_ns;
        rs->frames += n;
        if (n > 1)
            rs->multi++;
        struct rx_state *rx = rx_states.lookup(&sk);
        u32 zero = 0;
        struct rospy_batch *init = rospy_batch_init.lookup(&zero);
        struct rospy_batch *b = init ? rospy_batches.lookup_or_try_init(&sk, init) : 0;
        if (b) {
#pragma unroll
            for (int i = 0; i < ROSPY_MAX_FRAMES; i++)
                b->end[i] = frames->end[i];
            b->segs = 0;
            /* Before the first read since registration the byte counts may be off by
             * what was unread then (sockets.c aligns them at that read): no wait. */
            if (rx && rs->reads) {
                b->base = rx->consumed;
                u64 head = rx->head;
                b->segs = rx->tail - head < RX_RING ? rx->tail - head : RX_RING;
#pragma unroll
                for (int s = 0; s < RX_RING; s++) {
                    struct rx_segment *from = &rx->ring[(head + s) & (RX_RING - 1)];
                    b->seg_end[s] = from->end;
                    b->seg_len[s] = from->len;
                    b->seg_t[s] = from->t;
                }
            }
        }
        u64 object = rospy_object(read.fd);
        u32 g;
        u64 *w = enter_generation(&g);
        if (w) {
            struct queue_stats *qs = queue_stats(g, tgid, object);
            if (qs) {
                rospy_add_n(qs, g, tgid, object, COUNT_RECEIVED, 1, n);
            }
            leave_generation(w);
        }
    }
    rs->reads++;
    return true;
}

/* After sys_exit_recvfrom of a registered socket (sockets.c has taken the read's
 * segments): rospy_match() in a program of its own (the verifier's budget of the exit
 * handler is spent on the framing). */
static __always_inline void rospy_recv_done(void *ctx)
{
    rospy_tail.call(ctx, 0);
}

/* One message a rospy subscriber received, matched with its send: the link's numbers
 * (transport.c). Transport ends at the read that took the message's last byte (rospy
 * has no push), so network + socket wait = transport - publish queue; the end of its
 * callback is not seen per message: no end_to_end. `end`: its end in the read. */
static __always_inline void rospy_link(struct rospy_frames *f, struct sent_msg *sent, u64 end)
{
    struct link_key lk = {.sub_tgid = f->tgid, .pub_tgid = sent->pub_tgid,
                          .queue = rospy_object(f->fd), .publication = sent->publication};
    u32 g;
    u64 *w = enter_generation(&g);
    if (!w)
        return;
    struct link_stats *ls = link_stats_of(g, &lk);
    if (ls) {
        link_add(ls, g, &lk, LINK_MESSAGES, 1);
        link_sender_split(ls, g, &lk, sent->pq_split, sent->pq_busy_ns,
                          sent->pq_starved_ns, sent->pq_idle_ns);
        /* The segment that held the read's last byte (sockets.c) held this message's
         * when it ends the read. */
        struct sock_key sk = {.tgid = f->tgid, .fd = f->fd};
        struct rx_state *rx = rx_states.lookup(&sk);
        u64 t_ready = rx && end == f->got ? rx->last.t : 0;
        link_crossing(ls, g, &lk, sent->t_publish, sent->t_serialized, sent->t_sent, t_ready,
                      f->t_read);
    }
    leave_generation(w);
}

/* The message `sent` is what the reader thread's callbacks work on until its next read:
 * what they publish was caused by it (paths.c). */
static __always_inline void rospy_input(struct rospy_frames *f, struct sent_msg *sent)
{
    struct rospy_input in = {.fd = f->fd, .t_read = f->t_read,
                             .id = {.tgid = sent->pub_tgid, .publication = sent->publication,
                                    .t_publish = sent->t_publish}};
    if (!in.id.publication || !in.id.t_publish)
        return;
    u32 tid = f->tid;
    rospy_inputs.update(&tid, &in);
    u32 tgid = f->tgid;
    if (publisher_tgids.lookup(&tgid))
        processed_id(tgid, rospy_object(f->fd), &in.id, f->t_read);
}

/* Tail of sys_exit_recvfrom on a rospy socket of a registered connection: the last
 * message the read completed is fingerprinted (its head maybe from the read that began
 * it, rospy_heads) and looked up among the sends of that connection; a message begun
 * in this read and going on keeps the hash of its head. One message per read: the
 * others a read completes get no link numbers (counted received all the same). */
int rospy_match(void *ctx)
{
    u32 zero = 0;
    struct rospy_frames *f = rospy_scratch.lookup(&zero);
    if (!f || !f->match)
        return 0;
    f->match = 0;
    struct sock_key sk = {.tgid = f->tgid, .fd = f->fd};
    u32 *conn = conn_ids.lookup(&sk);
    if (!conn)
        return 0;
    struct fingerprint fp = {};
    u32 n = f->count;
    if (n && n <= ROSPY_MAX_FRAMES) {
        u64 end = f->end[(n - 1) & (ROSPY_MAX_FRAMES - 1)];
        bool known = false;
        if (f->last_here) {
            fingerprint(&fp, f->buf + f->last_start, f->last_len);
            known = true;
        } else {
            struct rospy_head *h = rospy_heads.lookup(&sk);
            if (h && h->len >= FP_HEAD + FP_TAIL && end >= FP_TAIL && end <= f->got) {
                fp.len = (u32)h->len;
                fp.hash = fingerprint_tail(h->hash, fp.tail, f->buf + end, h->len);
                known = true;
            }
            rospy_heads.delete(&sk);
        }
        struct sent_key key = {.conn = *conn, .len = fp.len, .hash = fp.hash};
        struct sent_msg *sent = known ? sent_msgs.lookup(&key) : 0;
        if (sent && f->t_read && sent->t_sent <= f->t_read) {
            rospy_link(f, sent, end);
            rospy_input(f, sent);
        }
    }
    if (f->open) {
        u64 len = f->cur_len, start = f->cur_start;
        u64 head = len < FP_HEAD ? len : FP_HEAD;
        if (start <= f->got && f->got - start >= head) {
            struct rospy_head h = {.len = len};
            h.hash = fingerprint_head(fp.head, f->buf + start, len);
            rospy_heads.update(&sk, &h);
        } else {
            rospy_heads.delete(&sk);
        }
    }
    return 0;
}
