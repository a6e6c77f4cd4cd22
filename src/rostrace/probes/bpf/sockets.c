/* When a received message's bytes were in the subscriber's socket, and what its poll
 * thread did until it read them: the network / socket-wait split of transport.
 *
 * A registered receiving socket (user space writes its addresses into `rx_tuples`
 * when it registers the connection, transport.c) keeps, in `rx_states`, the segments
 * that arrived and were not read yet: tcp:tcp_probe fires in tcp_rcv_established for
 * every segment an established socket receives (in whichever task's softirq delivers
 * it -- the sender's, on loopback), with the socket's addresses and the payload
 * length; syscalls:sys_exit_recvfrom says how many bytes the poll thread took. Bytes
 * are counted, so the push of a message (subscriber.c: right after roscpp read its
 * last byte) finds the segment that held that last byte: its arrival is when the
 * message was ready. The last byte counts, not the first: before it arrived the
 * message could not be handed on by any receiver, so that time is the network's (a
 * slow link shows as network, a late reader as socket wait); the first byte of a
 * message spanning many segments would charge the link's transmission time to the
 * receiver.
 *
 * Alignment: the byte counts start when the socket is registered, with bytes maybe
 * unread in it. A read that returns less than asked (roscpp reads until then) leaves
 * the socket empty: the counts are re-aligned there. Up to RX_RING unread segments are
 * kept; more are merged into the newest (their arrival is then the newest's, so socket
 * wait reads low, never high). Segments that arrive out of order or again
 * (retransmissions) are counted as they come: the split is for the local and
 * low-loss links ROS runs on.
 *
 * Cost: tcp_probe fires per received segment of every TCP socket of the machine: a
 * payload-less segment costs nothing more, another one hash lookup unless it belongs
 * to a registered socket. recvfrom exit: one lookup per call of a traced process. */
#define RX_RING 8
#define AF_INET_ 2
#define AF_INET6_ 10

struct rx_segment {
    u64 end;                /* bytes counted on the socket including this segment */
    u64 t;                  /* arrival */
    u32 len;
    u32 reader;             /* the socket's poll thread then, 0 none yet */
    u64 oncpu_ns;           /* its counters (sched.c) at the arrival */
    u64 runq_ns;
    u64 blocked_ns;
};

/* One producer (tcp_rcv_established holds the socket's lock) appends at `tail`, one
 * consumer (the poll thread's reads) advances `head`; both only grow. */
struct rx_state {
    u64 arrived;            /* bytes counted since registration */
    u64 consumed;           /* bytes read since registration (aligned at empty reads) */
    u64 head;
    u64 tail;
    u32 reader;             /* thread of the last read */
    u32 pad;
    struct rx_segment last; /* the segment that held the last byte read, .t 0 unknown */
    struct rx_segment ring[RX_RING];
};

struct rx_read {
    u32 fd;
    u32 pad;
    u64 size;
    u64 t_enter;
};

BPF_HASH(rx_tuples, struct rx_tuple, struct sock_key, 4096);     /* written by user space */
BPF_HASH(rx_states, struct sock_key, struct rx_state, 4096);     /* created by user space */
BPF_TABLE("lru_hash", u32, struct rx_read, rx_reads, 4096);      /* tid -> read under way */

static __always_inline void copy_address(u8 out[16], const u8 *sockaddr, u16 family)
{
    if (family == AF_INET_) {
        out[10] = 0xff;
        out[11] = 0xff;
        __builtin_memcpy(out + 12, sockaddr + 4, 4);       /* sockaddr_in.sin_addr */
    } else {
        __builtin_memcpy(out, sockaddr + 8, 16);           /* sockaddr_in6.sin6_addr */
    }
}

#ifndef NO_TP_TCP_PROBE          /* features.py TRACEPOINTS: not in this kernel */
TRACEPOINT_PROBE(tcp, tcp_probe)
{
    /* The family from the address itself (sa_family, its first u16): the tracepoint's
     * own `family` field came only in Linux 5.11. */
    u16 family = *(u16 *)args->saddr;
    if (!args->data_len || (family != AF_INET_ && family != AF_INET6_))
        return 0;
    struct rx_tuple t = {.lport = args->sport, .rport = args->dport};
    copy_address(t.laddr, args->saddr, family);
    copy_address(t.raddr, args->daddr, family);
    struct sock_key *sk = rx_tuples.lookup(&t);
    if (!sk)
        return 0;
    struct rx_state *rs = rx_states.lookup(sk);
    if (!rs)
        return 0;
    u64 now = bpf_ktime_get_ns();
    rs->arrived += args->data_len;
    struct rx_segment seg = {.end = rs->arrived, .t = now, .len = args->data_len,
                             .reader = rs->reader};
    if (seg.reader) {
        struct acct_snap snap = {};
        snapshot(seg.reader, now, &snap);
        seg.oncpu_ns = snap.oncpu_ns;
        seg.runq_ns = snap.runq_ns;
        seg.blocked_ns = snap.blocked_ns;
    }
    u64 tail = rs->tail;
    if (tail - rs->head < RX_RING) {
        rs->ring[tail & (RX_RING - 1)] = seg;
        rs->tail = tail + 1;
    } else {
        /* Full: the newest entry grows (its start stays, so the byte count holds). */
        struct rx_segment *newest = &rs->ring[(tail - 1) & (RX_RING - 1)];
        seg.len = (u32)(seg.end - (newest->end - newest->len));
        *newest = seg;
    }
    return 0;
}
#endif

/* rospy.c: rospy subscribers' reads (framing, processing between reads). */
static __always_inline void rospy_recv_enter(u32 tgid, u32 tid, u32 fd, u64 buf);
static __always_inline bool rospy_recv_exit(u32 tgid, u32 tid, long got);
static __always_inline void rospy_recv_done(void *ctx);

/* Which socket filled which buffer (roscpp reads a message's body into a fresh
 * buffer, starting at its first byte), and reads of registered sockets. */
#ifndef NO_TP_RECVFROM          /* features.py TRACEPOINTS: not in this kernel */
TRACEPOINT_PROBE(syscalls, sys_enter_recvfrom)
{
    u64 id = current_pid_tgid();
    u32 tgid = id >> 32, tid = (u32)id;
    if (!tgid_maybe(tgid))
        return 0;
    u8 *flags = traced_tgids.lookup(&tgid);
    if (!flags)
        return 0;
    u32 fd = (u32)args->fd;
    if (*flags & TGID_ROSPY) {
        rospy_recv_enter(tgid, tid, fd, (u64)args->ubuf);
    } else {
        if (*flags & TGID_NO_ORIGIN)
            return 0;
        count_hit(HIT_RECV);
        if (args->size == 4) {
            u32 i = tid & (RECV_SLOTS - 1);
            struct recv_slot *slot = recv_slots.lookup(&i);
            if (slot) {
                slot->tid = tid;
                slot->fd = fd;
                slot->buf = (u64)args->ubuf;
            }
        } else {
            struct buf_key bk = {.tgid = tgid, .buf = (u64)args->ubuf};
            recv_bufs.update(&bk, &fd);
        }
    }
    struct sock_key sk = {.tgid = tgid, .fd = fd};
    if (rx_states.lookup(&sk)) {
        struct rx_read r = {.fd = fd, .size = args->size, .t_enter = bpf_ktime_get_ns()};
        rx_reads.update(&tid, &r);
    }
    return 0;
}
#endif

/* The read took `got` bytes (< 0: none): drop the segments it finished and remember
 * the one that held its last byte. A short read emptied the socket: whatever arrived
 * before it began (before it returned, for a blocking read: rospy's) is read, and the
 * counts are aligned there. */
static __always_inline void consume(struct rx_state *rs, struct rx_read *r, long got)
{
    bool emptied = got < 0 || (u64)got < r->size;
    if (got > 0)
        rs->consumed += got;
    u64 consumed = rs->consumed;
#pragma unroll
    for (int i = 0; i < RX_RING; i++) {
        u64 head = rs->head;
        if (head >= rs->tail)
            break;
        struct rx_segment *seg = &rs->ring[head & (RX_RING - 1)];
        bool read_all = seg->end <= consumed || (emptied && seg->t <= r->t_enter);
        if (got > 0 && (read_all || seg->end - seg->len < consumed))
            rs->last = *seg;        /* the last one holding a byte of this read wins */
        if (!read_all)
            break;
        rs->head = head + 1;
    }
    if (emptied) {
        u64 head = rs->head;
        struct rx_segment *next = &rs->ring[head & (RX_RING - 1)];
        rs->consumed = head < rs->tail ? next->end - next->len : rs->arrived;
    }
}

#ifndef NO_TP_RECVFROM          /* features.py TRACEPOINTS: not in this kernel */
TRACEPOINT_PROBE(syscalls, sys_exit_recvfrom)
{
    u64 id = current_pid_tgid();
    u32 tid = (u32)id;
    if (!tgid_maybe(id >> 32))
        return 0;
    bool blocking = rospy_recv_exit(id >> 32, tid, args->ret);
    struct rx_read *r = rx_reads.lookup(&tid);
    if (r) {
        /* rospy's reads block: what arrived while one waited is what it returns. */
        if (blocking)
            r->t_enter = bpf_ktime_get_ns();
        struct sock_key sk = {.tgid = id >> 32, .fd = r->fd};
        struct rx_state *rs = rx_states.lookup(&sk);
        if (rs) {
            rs->reader = tid;
            consume(rs, r, args->ret);
        }
        rx_reads.delete(&tid);
    }
    if (blocking)
        rospy_recv_done(args);      /* its messages' senders, now their last byte is known */
    return 0;
}
#endif

/* At a push on the poll thread, of a message matched with its send: when it was ready
 * in the socket, and what this thread did from the send to then and from then to now
 * (origin->t_ready, net_*, sw_*). */
static __always_inline void socket_wait(struct origin *o, struct sent_msg *sent, u32 tid,
                                        u64 now)
{
    struct sock_key sk = {.tgid = current_pid_tgid() >> 32, .fd = o->fd};
    struct rx_state *rs = rx_states.lookup(&sk);
    if (!rs || !rs->last.t || rs->last.t > now)
        return;
    struct rx_segment *ready = &rs->last;
    o->t_ready = ready->t;
    if (ready->reader != tid)
        return;
    if (sent->reader == tid) {
        o->net_busy_ns = delta(ready->oncpu_ns, sent->r_oncpu_ns);
        o->net_starved_ns = delta(ready->runq_ns, sent->r_runq_ns);
        o->net_idle_ns = delta(ready->blocked_ns, sent->r_blocked_ns);
        o->net_split = 1;
    }
    struct acct_snap snap = {};
    snapshot(tid, now, &snap);
    o->sw_busy_ns = delta(snap.oncpu_ns, ready->oncpu_ns);
    o->sw_starved_ns = delta(snap.runq_ns, ready->runq_ns);
    o->sw_idle_ns = delta(snap.blocked_ns, ready->blocked_ns);
    o->sw_split = 1;
    ready->t = 0;           /* one message per arrival: the next read names its own */
}
