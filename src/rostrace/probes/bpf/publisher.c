/* roscpp publisher side, per PID as well:
 *   publishing thread TopicManager::publish             entry (hand-off to roscpp)
 *                     Publication::publish              entry (serialized buffer ready)
 * = 2 uprobe entries per published message, whatever the number of subscribers.
 * The moment a message leaves a connection's outgoing queue is its first send() on
 * that socket (syscalls:sys_enter_sendto, buffer == the message's buffer): no uprobe;
 * on a connection whose both ends user space registered (conn_ids), one `sent_msgs`
 * entry the receiving end matches in the kernel, else one ring-buffer event per sent
 * message and socket for user space to match (transport.c).
 * See clients/roscpp/src/libros/topic_manager.cpp, publication.cpp,
 * transport_subscriber_link.cpp, connection.cpp (ros_comm 1.15). */

struct sock_state {
    u64 publication;
    u64 last_seq;
};

BPF_TABLE("lru_hash", struct object_key, u64, publication_seq, STAT_ENTRIES);
BPF_TABLE("lru_hash", struct sock_key, struct sock_state, sock_states, 16384);

int on_topic_manager_publish(struct pt_regs *ctx)
{
    count_hit(HIT_TOPIC_PUBLISH);
    u64 now = bpf_ktime_get_ns();
    u32 tid = (u32)current_pid_tgid();
    publish_start.update(&tid, &now);
    return 0;
}

/* Publication::publish(this, SerializedMessage& m), called by TopicManager::publish
 * on the same thread once the message is serialized (m.buf is then set). */
int on_publication_publish(struct pt_regs *ctx)
{
    count_hit(HIT_PUBLICATION_PUBLISH);
    u64 now = bpf_ktime_get_ns();
    u64 id = current_pid_tgid();
    u32 tgid = id >> 32, tid = (u32)id;
    u64 m[3] = {};          /* buf (shared_array: pointer, count), num_bytes */
    bpf_probe_read_user(m, sizeof(m), (void *)PT_REGS_PARM2(ctx));
    if (!m[0])
        return 0;           /* not serialized: no-copy intra-process subscribers only */
    struct object_key pk = {.tgid = tgid, .object = PT_REGS_PARM1(ctx)};
    u64 zero = 0;
    u64 *seq = publication_seq.lookup_or_try_init(&pk, &zero);
    if (!seq)
        return 0;
    *seq += 1;              /* TopicManager::publish holds advertised_topics_mutex_ */
    struct pub_msg pm = {.t_serialized = now, .publication = pk.object, .seq = *seq,
                         .len = m[2]};
    u32 *writer = senders.lookup(&tgid);
    if (writer) {           /* the thread that will most likely send it */
        struct acct_snap snap = {};
        snapshot(*writer, now, &snap);
        pm.writer = *writer;
        pm.w_oncpu_ns = snap.oncpu_ns;
        pm.w_runq_ns = snap.runq_ns;
        pm.w_blocked_ns = snap.blocked_ns;
    }
    u64 *start = publish_start.lookup(&tid);
    if (start && now >= *start && now - *start < 1000000000ULL) {
        pm.t_publish = *start;
        record(tgid, pk.object, STAGE_SERIALIZATION, now - *start);
    }
    record(tgid, pk.object, COUNT_PUBLISHED, 1);
    u8 *flags = traced_tgids.lookup(&tgid);
    if (flags && (*flags & TGID_ACTIONS) && m[2] > 4)   /* after the length prefix */
        action_capture(ctx, tgid, pk.object, m[0] + 4, m[2] - 4, pm.t_publish ? pm.t_publish : now,
                       ACTION_SENT);
    struct call_ctx *cc = call_by_tid.lookup(&tid);
    if (cc && cc->in_callback)          /* published by a subscription callback (paths.c) */
        caused_by(tgid, cc->queue, &cc->origin, pk.object, pm.t_publish);
    else
        sampled(tgid, pk.object, pm.t_publish);
    if (pm.t_publish && capture_on()) {
        struct span_event *e = span_start(SPAN_PUBLISH, tgid, tid, pk.object);
        if (e) {
            e->t0 = pm.t_publish;
            e->t1 = now;
            span_submit(ctx, e);
        }
    }
    struct buf_key bk = {.tgid = tgid, .buf = m[0]};
    pub_msgs.update(&bk, &pm);
    return 0;
}

/* The subscriber's poll thread when a message is sent to it: the network time is
 * split by what that thread did until the message was in its socket (sockets.c). */
static __always_inline void receiver_at_send(struct sent_msg *sent, u32 conn, u64 now)
{
    struct sock_key *receiver = conn_receivers.lookup(&conn);
    if (!receiver)
        return;
    struct rx_state *rs = rx_states.lookup(receiver);
    if (!rs || !rs->reader)
        return;
    struct acct_snap snap = {};
    snapshot(rs->reader, now, &snap);
    sent->reader = rs->reader;
    sent->r_oncpu_ns = snap.oncpu_ns;
    sent->r_runq_ns = snap.runq_ns;
    sent->r_blocked_ns = snap.blocked_ns;
}

/* A message sent on registered connection `conn` (its body: `len` bytes at `body`):
 * kept for the receiving end to match (transport.c), with its receiver's state now. */
static __always_inline void store_sent(u32 conn, u64 body, u64 len, struct sent_msg *sent,
                                       u64 now)
{
    struct fingerprint fp = {};
    fingerprint(&fp, body, len);
    struct sent_key key = {.conn = conn, .len = fp.len, .hash = fp.hash};
    receiver_at_send(sent, conn, now);
    sent_msgs.update(&key, sent);
}

/* A rospy publisher's send() (socket.sendall of the serialized message, its length
 * prefix first: rospy/impl/tcpros_base.py write_data), on a connection whose both ends
 * user space registered: the receiving end matches it (transport.c). rospy serializes
 * in the publishing thread (or hands the bytes to a connection's thread when queue_size
 * is set) without a syscall: the hand-off is not seen, so the message's link starts at
 * its first send (t_publish = t_sent, no serialized time). A send that does not begin
 * with its own length (the rest of a message, a header) does nothing. */
static __always_inline void rospy_sent(u32 tgid, u32 fd, u64 buf, u64 len)
{
    struct sock_key sk = {.tgid = tgid, .fd = fd};
    u32 *conn = conn_ids.lookup(&sk);
    if (!conn || len < 4 || len - 4 > ROSPY_MAX_LEN)
        return;
    u32 prefix = 0;
    bpf_probe_read_user(&prefix, sizeof(prefix), (void *)buf);
    if (prefix != len - 4)
        return;
    count_hit(HIT_SEND);
    u64 now = bpf_ktime_get_ns();
    u64 publication = rospy_object(fd);     /* per connection: its topic from getBusInfo */
    struct sent_msg sent = {.t_publish = now, .t_sent = now, .publication = publication,
                            .pub_tgid = tgid};
    store_sent(*conn, buf + 4, len - 4, &sent, now);
    /* Paths (paths.c): sent by a reader thread inside the callbacks of its read, it was
     * caused by that read's message; sent by another thread (a queue_size connection's,
     * a timer's), it is sampled from the process's latest inputs. */
    u32 tid = (u32)bpf_get_current_pid_tgid();
    struct rospy_input *in = rospy_inputs.lookup(&tid);
    struct sock_key ik = {.tgid = tgid, .fd = in ? in->fd : 0};
    struct rospy_sock *reading = in ? rospy_socks.lookup(&ik) : 0;
    if (reading && reading->batch_tid == tid && reading->batch_ns == in->t_read)
        caused_by_id(tgid, rospy_object(in->fd), &in->id, publication, now);
    else
        sampled(tgid, publication, now);
}

/* A traced publisher's first send() of a message on a socket: the message left that
 * connection's outgoing queue. Sequence numbers skipped on a socket were dropped from
 * its queue (TransportSubscriberLink::enqueueMessage tosses the oldest when full). */
#ifndef NO_TP_SENDTO          /* features.py TRACEPOINTS: not in this kernel */
TRACEPOINT_PROBE(syscalls, sys_enter_sendto)
{
    u64 id = current_pid_tgid();
    u32 tgid = id >> 32;
    if (!tgid_maybe(tgid))
        return 0;
    u8 *publisher = publisher_tgids.lookup(&tgid);
    if (!publisher)
        return 0;
    if (*publisher & TGID_ROSPY) {
        rospy_sent(tgid, (u32)args->fd, (u64)args->buff, args->len);
        return 0;
    }
    struct buf_key bk = {.tgid = tgid, .buf = (u64)args->buff};
    struct pub_msg *pm = pub_msgs.lookup(&bk);
    if (!pm)
        return 0;           /* a header, or the rest of a partly written message */
    count_hit(HIT_SEND);
    u64 now = bpf_ktime_get_ns();
    u32 tid = (u32)id;
    u32 *writer = senders.lookup(&tgid);
    if (!writer || *writer != tid)
        senders.update(&tgid, &tid);
    struct sock_key sk = {.tgid = tgid, .fd = (u32)args->fd};
    struct sock_state *ss = sock_states.lookup(&sk);
    u64 dropped = 0;
    if (ss && ss->publication == pm->publication && pm->seq > ss->last_seq) {
        dropped = pm->seq - ss->last_seq - 1;
        ss->last_seq = pm->seq;
    } else if (!ss || ss->publication != pm->publication) {
        struct sock_state init = {.publication = pm->publication, .last_seq = pm->seq};
        sock_states.update(&sk, &init);
    }
    u32 *conn = conn_ids.lookup(&sk);
    if (conn) {
        /* Both ends of this connection are known: the receiving end matches it in the
         * kernel (transport.c), no event. */
        struct sent_msg sent = {.t_publish = pm->t_publish, .t_serialized = pm->t_serialized,
                                .t_sent = now, .publication = pm->publication,
                                .dropped = dropped, .pub_tgid = tgid};
        if (pm->writer == tid) {
            struct acct_snap snap = {};
            snapshot(tid, now, &snap);
            sent.pq_busy_ns = delta(snap.oncpu_ns, pm->w_oncpu_ns);
            sent.pq_starved_ns = delta(snap.runq_ns, pm->w_runq_ns);
            sent.pq_idle_ns = delta(snap.blocked_ns, pm->w_blocked_ns);
            sent.pq_split = 1;
        }
        if (pm->len > 4)        /* an empty body is not matched in the kernel */
            store_sent(*conn, bk.buf + 4, pm->len - 4, &sent, now);
        return 0;
    }
    struct xfer_event *e = xfer_reserve();
    if (!e) {
        lose(LOST_EVENTS);
        return 0;
    }
    __builtin_memset(e, 0, sizeof(*e));
    e->type = EVENT_SENT;
    e->tgid = tgid;
    e->fd = (u32)args->fd;
    e->publication = pm->publication;
    e->seq = pm->seq;
    e->dropped = dropped;
    e->t_publish = pm->t_publish;
    e->t_serialized = pm->t_serialized;
    e->t_sent = now;
    if (pm->len > 4)
        fingerprint(&e->fp, bk.buf + 4, pm->len - 4);   /* after the length prefix */
    xfer_submit(args, e);
    return 0;
}
#endif
