/* The contract between rostrace's BPF program and its Python loader: the one definition
 * of every id, key and event layout both sides use.
 *
 * Python never retypes this file: rostrace/probes/abi.py is generated from it
 * (`make abi`), and test/unit/test_abi.py fails when the two disagree -- an enum value,
 * a field, its offset or its size (the layout is compiled here with the C compiler and
 * compared with ctypes). Keep to what the generator reads: `enum name { A = n, B, ... };`
 * and structs of u8/u32/u64, arrays of them (sized by a number or an enum constant)
 * and structs defined above. */
#ifndef ROSTRACE_H
#define ROSTRACE_H

/* What a stats/hist key's `record` counts, per SubscriptionQueue* (`object`).
 * STAGE_*: durations with a histogram; COUNT_*: counters; SUM_*: per-callback sums
 * (count = callbacks, sum = events), no histogram; GAUGE_*: the last value written in
 * the window (sum), no histogram. */
enum queue_record {
    STAGE_QUEUING = 0,
    STAGE_DESERIALIZATION = 1,
    STAGE_PROCESSING = 2,
    STAGE_TOTAL = 3,
    /* Splits from the scheduler tracepoints (sched.c). */
    STAGE_QUEUING_BUSY = 4,         /* serving spinner on CPU (other callbacks) */
    STAGE_QUEUING_STARVED = 5,      /* serving spinner runnable, not running */
    STAGE_QUEUING_IDLE = 6,         /* serving spinner blocked / idle */
    STAGE_PROCESSING_ONCPU = 7,
    STAGE_PROCESSING_RUNQUEUE = 8,
    STAGE_PROCESSING_BLOCKED = 9,
    STAGE_STAMP_AGE = 10,           /* roscpp's receipt time - the message's header.stamp */
    STAGE_PROCESSING_TF_WAIT = 11,  /* part of processing spent waiting for a transform
                                     * (tf2_ros::Buffer::canTransform with a timeout, tf.c):
                                     * one sample per wait (recorded there, not in
                                     * subscriber.c's finish_call) */
    COUNT_RECEIVED = 16,
    COUNT_PROCESSED = 17,
    COUNT_DROPPED = 18,
    GAUGE_QUEUED = 19,              /* messages in the queue after its last push/call */
    COUNT_DROPS_RETRACTED = 20,     /* drops counted at a push that roscpp did not make */
    COUNT_EXCEPTIONS = 21,          /* callbacks that threw (never reached their end) */
    COUNT_STAMP_AHEAD = 22,         /* header.stamp later than the receipt (clocks disagree) */
    SUM_VOLUNTARY_SWITCHES = 24,
    SUM_INVOLUNTARY_SWITCHES = 25,
    SUM_PAGE_FAULTS = 26,
    SUM_ALLOCATIONS = 27,           /* real-time audit only */
    SUM_SYSCALLS = 28,              /* real-time audit only */
    SYSCALL_BASE = 1000,            /* + syscall number: count of a callback's syscalls */
};

/* roscpp's SubscriptionQueue (ros/subscription_queue.h, x86_64): where its configured
 * size (int32 size_, <= 0: unbounded), whether its last push dropped (bool full_) and
 * its current length (uint32 queue_size_) are. test/unit/test_abi.py compiles the
 * installed header and compares. */
enum subscription_queue_layout {
    SQ_SIZE_OFFSET = 56,
    SQ_FULL_OFFSET = 60,
    SQ_LENGTH_OFFSET = 184,
};

/* The same, per Publication* (`object`): the publisher side. */
enum publication_record {
    STAGE_SERIALIZATION = 32,       /* hand-off -> serialized buffer */
    COUNT_PUBLISHED = 33,
    STAGE_SAMPLING_AGE = 34,        /* a publish outside any subscription callback: its
                                     * hand-off - the end of the latest input's callback */
};

/* The same, per timer (`object`: roscpp's TimerManager<...>::TimerInfo*), timers.c. */
enum timer_record {
    TIMER_LATENESS = 48,            /* callback start - expected start */
    TIMER_QUEUING = 49,             /* callback start - queued by the timer thread */
    TIMER_DURATION = 50,            /* callback duration as roscpp measured it */
    TIMER_FIRINGS = 51,             /* value: enum timer_kind (count = firings) */
    TIMER_MISSED = 52,              /* value: expected firings skipped after this one */
    TIMER_TF_WAIT = 53,             /* part of the duration spent waiting for a transform */
};

enum timer_kind {
    TIMER_ROS = 1,                  /* ros::Timer: ROS time (sim time when /use_sim_time) */
    TIMER_WALL = 2,                 /* ros::WallTimer: the system clock */
    TIMER_STEADY = 3,               /* ros::SteadyTimer: the monotonic clock */
};

/* roscpp's TimerManager<T, D, E>::TimerInfo (ros/timer_manager.h, x86_64; the same for
 * the three instantiations: every T and D is two 32-bit fields). test_abi.py compiles
 * the installed header and compares. */
enum timer_info_layout {
    TI_PERIOD_OFFSET = 4,           /* D period */
    TI_CALLBACK_OFFSET = 16,        /* boost::function<void(const E&)> callback (32 bytes) */
    TI_LAST_CB_DURATION_OFFSET = 56,    /* WallDuration, then T last_expected, */
    TI_NEXT_EXPECTED_OFFSET = 72,   /* T next_expected (this firing's, until rescheduled) */
    TI_LAST_REAL_OFFSET = 80,       /* T last_real (this firing's start) */
    TI_LAST_EXPIRED_OFFSET = 88,    /* T last_expired (this firing queued) */
};

/* The same, per service (services.c): server side per ServicePublication* (`object`),
 * client side per service name (`object`: the FNV-1a hash of the name, whose text is in
 * `client_names`). */
enum service_record {
    SERVICE_QUEUING = 56,           /* request read -> the handler's turn (callback queue) */
    SERVICE_HANDLING = 57,          /* deserialize + handler + serialize */
    SERVICE_REQUESTS = 58,          /* count */
    SERVICE_FAILED = 59,            /* count: the handler returned false */
    SERVICE_THREW = 60,             /* count: the handler threw (roscpp caught it) */
    CLIENT_ROUND_TRIP = 61,         /* ServiceClient::call -> the response read */
    CLIENT_CONNECT = 62,            /* non-persistent: lookup + connect before the request */
    CLIENT_CALLS = 63,              /* count */
    CLIENT_FAILED = 64,             /* count: the server said it failed */
};

/* roscpp service objects (x86_64; test_abi.py compiles the installed headers). */
enum service_layout {
    SP_NAME_OFFSET = 16,            /* ServicePublication: std::string name_ */
    SC_BUFFER_OFFSET = 24,          /* ServiceCallback (service_publication.cpp): buffer_ */
    SM_NUM_BYTES_OFFSET = 16,       /* SerializedMessage: size_t num_bytes */
    SSL_NAME_OFFSET = 40,           /* ServiceServerLink: std::string service_name_ */
    SSL_PERSISTENT_OFFSET = 72,     /* ... bool persistent_ */
    SSL_CURRENT_CALL_OFFSET = 320,  /* ... CallInfoPtr current_call_ */
    CALL_INFO_SUCCESS_OFFSET = 208, /* ServiceServerLink::CallInfo: bool success_ */
    FALSE_RESPONSE_BYTES = 5,       /* ok byte + uint32 0: a handler returned false */
};

enum service_name_size {
    SERVICE_NAME_BYTES = 128,       /* longer names are cut (and hashed as cut) */
};

/* A service name a traced client called (`client_names`, by its hash). */
struct service_name {
    u8 text[SERVICE_NAME_BYTES];
};

/* tf2 lookups (tf.c), per (target frame, source frame) pair of a process (`object`: the
 * pair's hash, whose frames are in `tf_pairs` / `tf_frames`). */
enum tf_record {
    TF_LOOKUP = 72,                 /* tf2_ros::Buffer::lookupTransform: entry -> the end of
                                     * its wait (count = its lookups) */
    TF_WAIT = 73,                   /* canTransform with a timeout: entry -> its final check */
    TF_WAIT_TIMEOUTS = 74,          /* count: ... that lasted the whole timeout (> 0) */
    TF_FAIL_LOOKUP = 75,            /* count: a lookup threw tf2::LookupException */
    TF_FAIL_CONNECTIVITY = 76,      /* ... tf2::ConnectivityException */
    TF_FAIL_EXTRAPOLATION = 77,     /* ... tf2::ExtrapolationException */
    TF_FAIL_TIMEOUT = 78,           /* ... tf2::TimeoutException */
    TF_FAIL_OTHER = 79,             /* ... another tf2 exception (InvalidArgumentException) */
    TF_CORE_LOOKUPS = 80,           /* count: tf2::BufferCore::lookupTransform called directly */
    TF_FAIL_UNREAD = 81,            /* count: a lookup threw a type whose name the kernel could
                                     * not read (its page not mapped in yet): user space reads
                                     * it (`tf_unread_types`) and makes it one of the above */
};

enum tf_frame_size {
    TF_FRAME_BYTES = 64,            /* longer frame ids are cut (and hashed as cut) */
};

/* A frame id a traced process looked up (`tf_frames`, by its hash). */
struct tf_frame {
    u8 text[TF_FRAME_BYTES];
};

/* The frames of a pair (`tf_pairs`, by the pair's hash). */
struct tf_pair {
    u64 target;
    u64 source;
};

/* A queue's records live in one value (struct queue_stats), indexed by record id. */
enum queue_stats_size {
    QUEUE_RECORD_SLOTS = 29,        /* SUM_SYSCALLS + 1 */
};

/* What a link's value (struct link_stats) holds per (publisher, subscriber queue):
 * matched in the kernel when both ends of its connection are registered (transport.c). */
enum link_record {
    LINK_MESSAGES = 0,              /* matched messages that reached a callback */
    LINK_DROPPED = 1,               /* dropped from the publisher's outgoing queue to us */
    LINK_PUBLISH_QUEUE = 2,         /* serialized -> first send() on the connection */
    LINK_TRANSPORT = 3,             /* hand-off in the publisher -> push here */
    LINK_END_TO_END = 4,            /* hand-off in the publisher -> end of our callback */
    /* Transport split at the moment the message's last byte reached our socket (the
     * tcp:tcp_probe tracepoint): */
    LINK_NETWORK = 5,               /* first send() -> last byte in our socket */
    LINK_SOCKET_WAIT = 6,           /* last byte in our socket -> push (read and handed) */
    LINK_SOCKET_WAIT_BUSY = 7,      /* ... our poll thread on CPU (other work) */
    LINK_SOCKET_WAIT_STARVED = 8,   /* ... runnable, not running */
    LINK_SOCKET_WAIT_IDLE = 9,      /* ... blocked */
    /* The publisher's outgoing queue split by the state of the thread that sent it. */
    LINK_PUBLISH_QUEUE_BUSY = 10,
    LINK_PUBLISH_QUEUE_STARVED = 11,
    LINK_PUBLISH_QUEUE_IDLE = 12,
    /* Network split by the state of our poll thread: a message can be held in the
     * publisher's kernel for us (Nagle waits for our ACK; a socket we hold locked
     * queues it), so a starved subscriber shows here too. */
    LINK_NETWORK_BUSY = 13,
    LINK_NETWORK_STARVED = 14,
    LINK_NETWORK_IDLE = 15,
    LINK_RECORD_SLOTS = 16,
};

/* Link records with a histogram: the stages (the splits have count, sum, min, max). */
#define LINK_HAS_HISTOGRAM(record) ((record) >= LINK_PUBLISH_QUEUE && \
    (record) <= LINK_SOCKET_WAIT)

#define HAS_HISTOGRAM(record) ((record) <= STAGE_PROCESSING_TF_WAIT || \
    (record) == STAGE_SERIALIZATION || (record) == STAGE_SAMPLING_AGE || \
    ((record) >= TIMER_LATENESS && (record) <= TIMER_DURATION) || (record) == TIMER_TF_WAIT || \
    (record) == TF_LOOKUP || (record) == TF_WAIT || \
    (record) == SERVICE_QUEUING || (record) == SERVICE_HANDLING || \
    (record) == CLIENT_ROUND_TRIP || (record) == CLIENT_CONNECT)

/* Probe hits per handler (the `hits` per-CPU array), so the benchmarks count the cost
 * per message instead of assuming it. */
enum hit {
    HIT_PUSH = 0,
    HIT_CALL = 1,                   /* only while a process has no learned queue register */
    HIT_DESERIALIZE = 2,
    HIT_DESERIALIZE_RETURN = 3,
    HIT_CALLBACK_DONE = 4,
    HIT_CALIBRATE = 5,
    HIT_CALIBRATE_RETURN = 6,
    HIT_TOPIC_PUBLISH = 7,
    HIT_PUBLICATION_PUBLISH = 8,
    HIT_SEND = 9,
    HIT_RECV = 10,
    HIT_TIMER = 11,
    HIT_SERVICE = 12,               /* server side: per request, 3 entries */
    HIT_CLIENT = 13,                /* client side: per call, 2 or 3 entries */
    HIT_NODELET = 14,               /* nodelet managers, only while learning (nodelets.c) */
    HIT_TF = 15,                    /* tf2 lookups: 4 entries per Buffer::lookupTransform */
    HIT_THROW = 16,                 /* __cxa_throw in a process with tf2 probes */
    HIT_COUNT = 17,
};

/* Values of `traced_tgids` (bits). */
enum tgid_flag {
    TGID_TRACED = 1,
    TGID_NO_ORIGIN = 2,             /* no queue of it can be matched: skip its socket reads */
    TGID_NO_SCHED = 4,              /* overhead budget: no scheduler split for its threads */
    TGID_TF = 8,                    /* tf2 probes attached (tf.c) */
    TGID_ACTIONS = 16,              /* it has actionlib topics: copy their messages (actions.c) */
    TGID_COUNTS = 32,               /* overhead budget's counts mode: push only counts */
    TGID_AUDITED = 64,              /* real-time audit on (audit.c; also in audited_tgids) */
    TGID_ROSPY = 128,               /* a rospy node: its registered sockets framed (rospy.c) */
};

/* rospy subscribers (rospy.c): a connection's socket is the kernel's object for it,
 * (1 << ROSPY_OBJECT_SHIFT) | fd (no user-space pointer has that bit). */
enum rospy_object {
    ROSPY_OBJECT_SHIFT = 62,
    ROSPY_MAX_FRAMES = 64,          /* frames one read is walked for; more: framing lost */
};

/* A rospy subscriber connection's socket (rospy_socks; created by user space, which
 * reads `frames` and `reads` to pair them with rospy's own delivered count). */
struct rospy_sock {
    u64 frames;             /* messages whose last byte a read of this socket took */
    u64 reads;              /* reads that returned */
    u64 multi;              /* reads that took more than one message (rospy may prune) */
    u64 need;               /* bytes of the current message still to come */
    u64 batch_ns;           /* end of the read that completed messages, 0: none pending */
    u64 oncpu_ns;           /* the reader's counters then (sched.c) */
    u64 runq_ns;
    u64 blocked_ns;
    u32 batch_tid;
    u32 batch_frames;
    u32 lost_sync;          /* framings given up (implausible length, too many frames) */
    u8 synced;              /* 0: not yet at a message boundary, 1: tentative, 2: sure */
    u8 in_recv;             /* its reader is inside recvfrom */
    u8 pad[2];
};

/* Values of `queue_flags` (bits, per SubscriptionQueue; written by user space). */
enum queue_flag {
    QUEUE_UNSTAMPED = 1,            /* no std_msgs/Header first: its stamps are not read */
    QUEUE_UNMATCHABLE = 2,          /* no traced publisher feeds it: no fingerprint, no event */
};

/* Callee-saved registers, in the order the receive path tries them for the
 * SubscriptionQueue* that SubscriptionQueue::call keeps while it calls deserialize(). */
/* The id filters in front of the per-process and per-thread maps (common.c): one byte
 * per id modulo ID_FILTER_SLOTS, eight to an array word. */
enum id_filter_size {
    ID_FILTER_WORDS = 8192,
    ID_FILTER_SLOTS = 65536,        /* ID_FILTER_WORDS * 8 */
};

enum saved_register {
    REG_RBX = 0,
    REG_RBP = 1,
    REG_R12 = 2,
    REG_R13 = 3,
    REG_R14 = 4,
    REG_R15 = 5,
    REG_COUNT = 6,
    REG_UNKNOWN = 255,
};

/* What the program could not record (the `lost` array): a full ring buffer or map.
 * User space reports any of them as a WARN on the monitor status. */
enum lost_kind {
    LOST_EVENTS = 0,            /* transport events the full ring buffer refused */
    LOST_STATS = 1,             /* samples: the stats map was full */
    LOST_HIST = 2,              /* histogram samples: the hist map was full */
    LOST_SPANS = 3,             /* capture: spans the full ring buffer refused */
    LOST_COUNT = 4,
};

/* actionlib (actions.c): the first bytes of each message of an action's topics
 * (goal, cancel, status, feedback, result) a traced process sends or receives, for user
 * space to read goal ids and states from (engine/actions.py). */
enum action_sizes {
    ACTION_BYTES = 1024,            /* at most this much of a message is copied */
    ACTION_PROBE_EVENTS = 64,       /* messages of an object copied before user space said
                                     * whether it is an action topic */
};

enum action_side {
    ACTION_RECEIVED = 1,            /* pushed on a subscription queue of the process */
    ACTION_SENT = 2,                /* handed to roscpp by the process (publish) */
};

struct action_event {
    u64 t;                          /* push, or the publish's hand-off */
    u64 object;                     /* SubscriptionQueue* / Publication* */
    u32 tgid;
    u32 side;                       /* enum action_side */
    u32 len;                        /* the serialized message's length */
    u32 copied;                     /* bytes of it in data */
    u8 data[ACTION_BYTES];
};

/* Transport events (ring buffer `xfer_events`). */
enum event_type {
    EVENT_SENT = 1,
    EVENT_RECEIVED = 2,
};

enum origin_kind {
    KIND_TCP = 1,               /* arrived through a TCP socket (fd known) */
    KIND_INTRA = 2,             /* delivered inside the publishing process */
};

enum hist_shape {
    HIST_GROUP = 16,            /* buckets per histogram entry: one power of two's
                                 * sub-buckets, so a window's entries follow the powers
                                 * of two its values span, not every sub-bucket hit */
};

enum fingerprint_size {
    FP_HEAD = 24,               /* bytes of a message's start that identify it */
    FP_TAIL = 8,                /* ... and of its end */
};

#ifndef HIST_ENTRIES
#define HIST_ENTRIES 32768     /* ~3 MiB of kernel memory per generation */
#endif
#ifndef STAT_ENTRIES
#define STAT_ENTRIES 16384
#endif
#ifndef QUEUE_ENTRIES
#define QUEUE_ENTRIES 4096
#endif
#ifndef PENDING_ENTRIES
#define PENDING_ENTRIES 65536
#endif

/* Per traced process (`call_sites`): where SubscriptionQueue::call lies in its memory,
 * [lo, hi) -- a deserialize() returning there is a served message -- written by user
 * space; which saved register holds the queue at that call (enum saved_register) and
 * how many served messages paired with no register, learned by the kernel. */
struct call_site {
    u64 lo;
    u64 hi;
    u32 reg;
    u32 misses;
};

/* One object (a SubscriptionQueue* or Publication*) of one process. */
struct object_key {
    u32 tgid;
    u32 pad;
    u64 object;
};

/* One record of one object (a SubscriptionQueue* or Publication*) of one process. */
struct stat_key {
    u32 tgid;
    u32 record;             /* enum queue_record / publication_record */
    u64 object;
};

struct hist_key {
    u32 tgid;
    u32 record;
    u64 object;
    u32 group;              /* bucket_of(value_ns) / HIST_GROUP */
    u32 pad;
};

/* The counts of one histogram entry's buckets: n[bucket_of(value_ns) % HIST_GROUP]. */
struct hist_group {
    u32 n[HIST_GROUP];
};

struct stat_val {
    u64 count;
    u64 sum_ns;
    u64 min_ns;
    u64 max_ns;
};

/* A queue stage's histogram entry kept inside its queue_stats: the counts of one
 * group of buckets (group1 = group + 1; 0: none), chosen when the window's value was
 * created -- the group the stage's last sample outside it fell in -- and never changed
 * after, so a sample lands there without a hash lookup; other groups go to hist0/1. */
enum hot_hist_size {
    HOT_STAGES = 11,                /* STAGE_QUEUING .. STAGE_STAMP_AGE */
};

struct hot_hist {
    u32 group1;
    u32 n[HIST_GROUP];
};

/* Every record of one SubscriptionQueue in one window (enum queue_record < SYSCALL_BASE
 * as index; min_ns starts at ~0, written into `qstats_init` by user space), and a
 * histogram entry per stage. One map lookup per handler instead of one per record. */
struct queue_stats {
    struct stat_val rec[QUEUE_RECORD_SLOTS];
    struct hot_hist hot[HOT_STAGES];
};

/* A socket of a traced process. */
struct sock_key {
    u32 tgid;
    u32 fd;
};

/* A TCP connection as the receiving socket sees it (tcp:tcp_probe's saddr/daddr):
 * IPv4 addresses as IPv4-mapped IPv6 (::ffff:a.b.c.d), ports in host order. */
struct rx_tuple {
    u8 laddr[16];
    u8 raddr[16];
    u32 lport;
    u32 rport;
};

/* One publisher -> subscriber-queue link (intra: inside one process). */
struct link_key {
    u32 sub_tgid;
    u32 pub_tgid;
    u64 queue;              /* SubscriptionQueue* in the subscriber */
    u64 publication;        /* Publication* in the publisher, 0 unknown */
    u32 intra;
    u32 path;               /* 1: not a link but a path: the publication is an ancestor
                             * two or more hops up the chain (paths.c) */
};

struct link_stats {
    struct stat_val rec[LINK_RECORD_SLOTS];
};

struct link_hist_key {
    struct link_key link;
    u32 record;             /* enum link_record */
    u32 group;              /* as in hist_key */
};

/* Identifies a message's bytes across processes: its length, first FP_HEAD bytes
 * (only min(len, FP_HEAD) of them count) and last FP_TAIL bytes (when
 * len >= FP_HEAD + FP_TAIL). */
struct fingerprint {
    u32 len;
    u32 pad;
    u64 hash;               /* FNV-1a of the bytes that count, computed in the kernel */
    u8 head[FP_HEAD];
    u8 tail[FP_TAIL];
};

/* `rostrace capture` (capture.c): one event per span, while capturing only. */
enum span_type {
    SPAN_MESSAGE = 1,       /* t0 push, t1 deserialize entry, t2 its return, t3 callback end */
    SPAN_PUBLISH = 2,       /* t0 TopicManager::publish entry, t1 Publication::publish */
    SPAN_TIMER = 3,         /* t0 callback start (end - roscpp's duration), t1 end */
    SPAN_SERVICE = 4,       /* t0 request read, t1 handler's turn, t2 response ready */
};

struct span_event {
    u32 type;               /* enum span_type */
    u32 tgid;
    u32 tid;
    u32 origin_tgid;        /* message: its publisher (0 unknown) */
    u64 object;             /* SubscriptionQueue*, Publication*, TimerInfo*, ServicePublication* */
    u64 t0;
    u64 t1;
    u64 t2;
    u64 t3;
    u64 origin_publication; /* message: the publisher's Publication* (0 unknown) */
    u64 origin_t_publish;   /* message: the publisher's hand-off, the flow's start */
};

struct xfer_event {
    u32 type;               /* enum event_type */
    u32 tgid;
    u32 fd;                 /* the socket, or 0 (intra-process) */
    u32 kind;               /* received: enum origin_kind */
    u64 object;             /* received: SubscriptionQueue* */
    u64 publication;        /* sent, and received intra-process when known: Publication* */
    u64 seq;                /* sent: message number of the publication */
    u64 dropped;            /* sent: messages this socket's outgoing queue dropped since */
    u64 t_publish;          /* hand-off to roscpp (TopicManager::publish entry), 0 unknown */
    u64 t_serialized;       /* sent: Publication::publish entry */
    u64 t_sent;             /* sent: first send() of the message on this socket */
    u64 t_received;         /* received: SubscriptionQueue::push */
    u64 t_done;             /* received: end of SubscriptionQueue::call (the callback) */
    struct fingerprint fp;
};

/* Log-linear buckets: values below 16 ns are exact; above, each power of two is
 * split into 16 linear sub-buckets (relative width <= 6.25 %, so a percentile read
 * at a bucket's midpoint is within about 3 %). rostrace/model/histogram.py mirrors
 * bucket_of(); test/unit/test_histogram.py checks the pair on known values. */
static __always_inline u32 log2_u64(u64 v)
{
    u32 r = 0;
    if (v >> 32) { v >>= 32; r += 32; }
    if (v >> 16) { v >>= 16; r += 16; }
    if (v >> 8)  { v >>= 8;  r += 8; }
    if (v >> 4)  { v >>= 4;  r += 4; }
    if (v >> 2)  { v >>= 2;  r += 2; }
    if (v >> 1)  { r += 1; }
    return r;
}

static __always_inline u32 bucket_of(u64 v)
{
    if (v < 16)
        return (u32)v;
    u32 e = log2_u64(v);
    return (e - 3) * 16 + (u32)((v >> (e - 4)) & 15);
}

#endif
