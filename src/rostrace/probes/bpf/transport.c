/* Across processes: what the publisher side (publisher.c) and the receive path
 * (subscriber.c) share to tell user space which sent message became which received
 * one. One ring-buffer event (struct xfer_event) per sent message and socket and one
 * per processed message carry timestamps and a content fingerprint; user space
 * matches them per TCP connection (rostrace/model/matching.py). */

/* Where a received message came from, carried from its push to its call's end. */
struct origin {
    u32 kind;               /* enum origin_kind, 0 unknown */
    u32 fd;
    u64 t_publish;          /* intra-process: the publisher's hand-off, 0 unknown */
    u64 publication;        /* intra-process, serialized: the Publication* */
    struct fingerprint fp;
};

BPF_RINGBUF_OUTPUT(xfer_events, 1024);       /* pages: 4 MiB */

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
};

BPF_TABLE("lru_hash", u32, u64, publish_start, 16384);   /* tid -> hand-off time */
BPF_TABLE("lru_hash", struct buf_key, struct pub_msg, pub_msgs, 65536);
BPF_TABLE("lru_hash", struct buf_key, u32, recv_bufs, 65536);  /* recv() buffer -> fd */

static __always_inline void fingerprint(struct fingerprint *fp, u64 data, u64 len)
{
    fp->len = (u32)len;
    u32 n = len < FP_HEAD ? (u32)len : FP_HEAD;
    if (n > 0 && n <= FP_HEAD)
        bpf_probe_read_user(fp->head, n, (void *)data);
    if (len >= FP_HEAD + FP_TAIL)
        bpf_probe_read_user(fp->tail, FP_TAIL, (void *)(data + len - FP_TAIL));
    u64 h = 14695981039346656037ULL ^ len;
#pragma unroll
    for (int i = 0; i < FP_HEAD; i++) {
        if (i < n)
            h = (h ^ fp->head[i]) * 1099511628211ULL;
    }
#pragma unroll
    for (int i = 0; i < FP_TAIL; i++)
        h = (h ^ fp->tail[i]) * 1099511628211ULL;  /* zero when not read */
    fp->hash = h;
}
