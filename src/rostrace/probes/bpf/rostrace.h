/* Shared definitions of rostrace's BPF programs: keys, stage ids, histogram buckets.
 * The Python side mirrors STAGE_* and the bucket layout in rostrace/histogram.py. */
#ifndef ROSTRACE_H
#define ROSTRACE_H

#define STAGE_QUEUING 0
#define STAGE_DESERIALIZATION 1
#define STAGE_PROCESSING 2
#define STAGE_TOTAL 3
#define COUNT_RECEIVED 4
#define COUNT_PROCESSED 5
#define COUNT_DROPPED 6
#define COUNT_PUBLISHED 7           /* publisher side: keyed by Publication*, not queue */
/* Splits from the scheduler tracepoints (threads.h), with histograms. */
#define STAGE_QUEUING_BUSY 8        /* serving spinner on CPU (other callbacks) */
#define STAGE_QUEUING_STARVED 9     /* serving spinner runnable, not running */
#define STAGE_QUEUING_IDLE 10       /* serving spinner blocked / idle */
#define STAGE_PROCESSING_ONCPU 11
#define STAGE_PROCESSING_RUNQUEUE 12
#define STAGE_PROCESSING_BLOCKED 13
#define STAGE_SERIALIZATION 14      /* publisher side: hand-off -> serialized buffer */
/* Per-callback sums (count = callbacks, sum = events): no histogram. */
#define SUM_VOLUNTARY_CS 16
#define SUM_INVOLUNTARY_CS 17
#define SUM_PAGE_FAULTS 18
#define SUM_ALLOCATIONS 19          /* real-time audit only */
#define SUM_SYSCALLS 20             /* real-time audit only */
#define SYSCALL_BASE 1000           /* + syscall number: count per callback's syscalls */

#define HAS_HISTOGRAM(stage) ((stage) <= STAGE_TOTAL || \
    ((stage) >= STAGE_QUEUING_BUSY && (stage) <= STAGE_SERIALIZATION))

#ifndef HIST_ENTRIES
#define HIST_ENTRIES 65536
#endif
#ifndef STAT_ENTRIES
#define STAT_ENTRIES 16384
#endif
#ifndef PENDING_ENTRIES
#define PENDING_ENTRIES 65536
#endif

/* One topic of one process: roscpp's SubscriptionQueue object is the topic handle. */
struct stat_key {
    u32 tgid;
    u32 stage;
    u64 queue;
};

struct hist_key {
    u32 tgid;
    u32 stage;
    u64 queue;
    u32 bucket;
    u32 pad;
};

struct stat_val {
    u64 count;
    u64 sum_ns;
    u64 min_ns;
    u64 max_ns;
};

/* Log-linear buckets: values below 16 ns are exact; above, each power of two is
 * split into 16 linear sub-buckets (relative width <= 6.25 %, so a percentile read
 * at a bucket's midpoint is within about 3 %). */
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
