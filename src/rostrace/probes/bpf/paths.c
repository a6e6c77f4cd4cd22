/* Paths: which message caused which, across processes, inferred in the kernel.
 *
 * A message is known by (process, Publication*, hand-off time). A publish made on a
 * thread while it runs a subscription callback (publisher.c: the thread's call_ctx is
 * in_callback) was caused by that callback's message: `chains` keeps that parent per
 * published message, and `causes` counts (process, input queue -> output publication)
 * for the dataflow graph. At the end of a callback (subscriber.c) the chain of the
 * message just processed is walked up to PATH_HOPS ancestors, and each ancestor gets a
 * path entry in the link maps (link_key.path = 1): its hand-off -> the end of this
 * callback. The direct publisher of the message is the link itself (LINK_END_TO_END).
 *
 * Only messages whose origin the kernel knows are chained: intra-process deliveries
 * and messages matched in the kernel (both ends of the connection registered). A
 * callback that publishes several outputs links each to its input; a callback that
 * combines several inputs (message_filters) links to the message it is processing
 * when it publishes. Cost: one map update per publish inside a callback, one lookup
 * per ancestor at a callback's end; no uprobe.
 *
 * Sampling: a publish outside any subscription callback (a timer callback, a loop) is
 * caused by the latest message processed in that process: per traced publisher process
 * `latest` keeps, for its LATEST_INPUTS most recently served queues, the last message
 * and when its callback ended. The publish is chained to the most recent of them (if
 * younger than SAMPLE_MAX_AGE_NS), every one of them gets a (sampled) cause edge, and
 * the age (publish - end of that callback) is the publication's STAGE_SAMPLING_AGE. */
#define PATH_HOPS 8
#define LATEST_INPUTS 4
#define SAMPLE_MAX_AGE_NS 10000000000ULL

struct msg_id {
    u32 tgid;
    u32 pad;
    u64 publication;
    u64 t_publish;
};

struct cause_key {
    u32 tgid;
    u32 sampled;            /* published outside the input's callback (sampling) */
    u64 queue;
    u64 publication;
};

struct latest_input {
    u64 queue;
    struct msg_id id;
    u64 t_done;
};

struct latest_inputs {
    struct latest_input in[LATEST_INPUTS];
};

BPF_TABLE("lru_hash", struct msg_id, struct msg_id, chains, 65536);    /* message -> its cause */
BPF_TABLE("lru_hash", struct cause_key, u64, causes, 4096);
BPF_HASH(latest, u32, struct latest_inputs, 4096);         /* traced publishers' inputs */

static __always_inline void count_cause(struct cause_key *ck)
{
    u64 one = 1;
    u64 *n = causes.lookup(ck);
    if (n)
        __sync_fetch_and_add(n, 1);
    else
        causes.update(ck, &one);
}

/* The id of a received message, when the kernel knows who sent it. */
static __always_inline bool origin_id(struct origin *o, u32 tgid, struct msg_id *id)
{
    bool intra = o->kind == KIND_INTRA;
    if ((!intra && !o->matched) || !o->t_publish || !o->publication)
        return false;
    id->tgid = intra ? tgid : o->pub_tgid;
    id->publication = o->publication;
    id->t_publish = o->t_publish;
    return true;
}

/* Publication `publication` of `tgid` published at `t_publish` from the callback of
 * queue `queue`, whose message came from `o`. */
static __always_inline void caused_by_id(u32 tgid, u64 queue, struct msg_id *parent,
                                         u64 publication, u64 t_publish);

static __always_inline void caused_by(u32 tgid, u64 queue, struct origin *o, u64 publication,
                                      u64 t_publish)
{
    struct msg_id parent = {};
    caused_by_id(tgid, queue, origin_id(o, tgid, &parent) ? &parent : 0, publication,
                 t_publish);
}

/* ... whose message was `parent` (0: not known; rospy.c: a rospy subscriber's read). */
static __always_inline void caused_by_id(u32 tgid, u64 queue, struct msg_id *parent,
                                         u64 publication, u64 t_publish)
{
    struct cause_key ck = {.tgid = tgid, .queue = queue, .publication = publication};
    count_cause(&ck);
    if (!t_publish || !parent)
        return;
    struct msg_id self = {.tgid = tgid, .publication = publication, .t_publish = t_publish};
    chains.update(&self, parent);
}

/* The end of a callback on queue `queue` of `tgid` whose message came from `o`: one path
 * entry per ancestor of that message. */
static __always_inline void record_paths(u32 g, u32 tgid, u64 queue, struct origin *o,
                                         u64 now)
{
    struct msg_id id = {};
    if (!origin_id(o, tgid, &id))
        return;
    struct link_key lk = {.sub_tgid = tgid, .queue = queue, .path = 1};
    for (int i = 0; i < PATH_HOPS; i++) {
        struct msg_id *parent = chains.lookup(&id);
        if (!parent)
            return;
        id = *parent;
        lk.pub_tgid = id.tgid;
        lk.publication = id.publication;
        struct link_stats *ls = link_stats_of(g, &lk);
        if (!ls)
            return;
        link_add(ls, g, &lk, LINK_MESSAGES, 1);
        if (now > id.t_publish)
            link_add(ls, g, &lk, LINK_END_TO_END, now - id.t_publish);
    }
}


/* A traced publisher process finished a callback of `queue` whose message came from
 * `o`: the latest input of that queue (for publishes outside callbacks). */
static __always_inline void processed_id(u32 tgid, u64 queue, struct msg_id *id, u64 now);

static __always_inline void processed(u32 tgid, u64 queue, struct origin *o, u64 now)
{
    if (!publisher_tgids.lookup(&tgid))
        return;
    struct msg_id id = {};
    if (origin_id(o, tgid, &id))
        processed_id(tgid, queue, &id, now);
}

/* ... whose message was `id` (rospy.c: a rospy subscriber's read). */
static __always_inline void processed_id(u32 tgid, u64 queue, struct msg_id *id, u64 now)
{
    struct latest_inputs *l = latest.lookup(&tgid);
    if (!l) {
        struct latest_inputs init = {};
        latest.update(&tgid, &init);
        l = latest.lookup(&tgid);
        if (!l)
            return;
    }
    int slot = -1;
    for (int i = 0; i < LATEST_INPUTS; i++)
        if (slot < 0 && l->in[i].queue == queue)
            slot = i;
    if (slot < 0) {                 /* a new queue takes the oldest slot */
        u64 oldest = ~0ULL;
        for (int i = 0; i < LATEST_INPUTS; i++)
            if (l->in[i].t_done < oldest) {
                oldest = l->in[i].t_done;
                slot = i;
            }
    }
    if (slot < 0 || slot >= LATEST_INPUTS)
        return;
    l->in[slot].queue = queue;
    l->in[slot].id = *id;
    l->in[slot].t_done = now;
}

/* Publication `publication` of `tgid` published at `t_publish` outside any subscription
 * callback: sampled from the latest inputs. */
static __always_inline void sampled(u32 tgid, u64 publication, u64 t_publish)
{
    struct latest_inputs *l = latest.lookup(&tgid);
    if (!l || !t_publish)
        return;
    int newest = -1;
    u64 newest_done = 0;
    for (int i = 0; i < LATEST_INPUTS; i++) {
        u64 done = l->in[i].t_done;
        if (!done || done > t_publish || t_publish - done > SAMPLE_MAX_AGE_NS)
            continue;
        struct cause_key ck = {.tgid = tgid, .sampled = 1, .queue = l->in[i].queue,
                               .publication = publication};
        count_cause(&ck);
        if (done > newest_done) {
            newest_done = done;
            newest = i;
        }
    }
    if (newest < 0 || newest >= LATEST_INPUTS)
        return;
    struct msg_id self = {.tgid = tgid, .publication = publication, .t_publish = t_publish};
    struct msg_id parent = l->in[newest].id;
    chains.update(&self, &parent);
    record(tgid, publication, STAGE_SAMPLING_AGE, t_publish - newest_done);
}
