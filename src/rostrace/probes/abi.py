"""The kernel<->user contract for Python: GENERATED from bpf/rostrace.h by
`make abi` (python3 -m rostrace.probes.contract). Do not edit; edit rostrace.h.
test/unit/test_abi.py fails while this file and the compiled header disagree."""
import ctypes

# enum queue_record
STAGE_QUEUING = 0
STAGE_DESERIALIZATION = 1
STAGE_PROCESSING = 2
STAGE_TOTAL = 3
STAGE_QUEUING_BUSY = 4
STAGE_QUEUING_STARVED = 5
STAGE_QUEUING_IDLE = 6
STAGE_PROCESSING_ONCPU = 7
STAGE_PROCESSING_RUNQUEUE = 8
STAGE_PROCESSING_BLOCKED = 9
STAGE_STAMP_AGE = 10
STAGE_PROCESSING_TF_WAIT = 11
COUNT_RECEIVED = 16
COUNT_PROCESSED = 17
COUNT_DROPPED = 18
GAUGE_QUEUED = 19
COUNT_DROPS_RETRACTED = 20
COUNT_EXCEPTIONS = 21
COUNT_STAMP_AHEAD = 22
SUM_VOLUNTARY_SWITCHES = 24
SUM_INVOLUNTARY_SWITCHES = 25
SUM_PAGE_FAULTS = 26
SUM_ALLOCATIONS = 27
SUM_SYSCALLS = 28
SYSCALL_BASE = 1000
QUEUE_RECORD = {
    'STAGE_QUEUING': STAGE_QUEUING,
    'STAGE_DESERIALIZATION': STAGE_DESERIALIZATION,
    'STAGE_PROCESSING': STAGE_PROCESSING,
    'STAGE_TOTAL': STAGE_TOTAL,
    'STAGE_QUEUING_BUSY': STAGE_QUEUING_BUSY,
    'STAGE_QUEUING_STARVED': STAGE_QUEUING_STARVED,
    'STAGE_QUEUING_IDLE': STAGE_QUEUING_IDLE,
    'STAGE_PROCESSING_ONCPU': STAGE_PROCESSING_ONCPU,
    'STAGE_PROCESSING_RUNQUEUE': STAGE_PROCESSING_RUNQUEUE,
    'STAGE_PROCESSING_BLOCKED': STAGE_PROCESSING_BLOCKED,
    'STAGE_STAMP_AGE': STAGE_STAMP_AGE,
    'STAGE_PROCESSING_TF_WAIT': STAGE_PROCESSING_TF_WAIT,
    'COUNT_RECEIVED': COUNT_RECEIVED,
    'COUNT_PROCESSED': COUNT_PROCESSED,
    'COUNT_DROPPED': COUNT_DROPPED,
    'GAUGE_QUEUED': GAUGE_QUEUED,
    'COUNT_DROPS_RETRACTED': COUNT_DROPS_RETRACTED,
    'COUNT_EXCEPTIONS': COUNT_EXCEPTIONS,
    'COUNT_STAMP_AHEAD': COUNT_STAMP_AHEAD,
    'SUM_VOLUNTARY_SWITCHES': SUM_VOLUNTARY_SWITCHES,
    'SUM_INVOLUNTARY_SWITCHES': SUM_INVOLUNTARY_SWITCHES,
    'SUM_PAGE_FAULTS': SUM_PAGE_FAULTS,
    'SUM_ALLOCATIONS': SUM_ALLOCATIONS,
    'SUM_SYSCALLS': SUM_SYSCALLS,
    'SYSCALL_BASE': SYSCALL_BASE,
}

# enum subscription_queue_layout
SQ_SIZE_OFFSET = 56
SQ_FULL_OFFSET = 60
SQ_LENGTH_OFFSET = 184
SUBSCRIPTION_QUEUE_LAYOUT = {
    'SQ_SIZE_OFFSET': SQ_SIZE_OFFSET,
    'SQ_FULL_OFFSET': SQ_FULL_OFFSET,
    'SQ_LENGTH_OFFSET': SQ_LENGTH_OFFSET,
}

# enum publication_record
STAGE_SERIALIZATION = 32
COUNT_PUBLISHED = 33
STAGE_SAMPLING_AGE = 34
PUBLICATION_RECORD = {
    'STAGE_SERIALIZATION': STAGE_SERIALIZATION,
    'COUNT_PUBLISHED': COUNT_PUBLISHED,
    'STAGE_SAMPLING_AGE': STAGE_SAMPLING_AGE,
}

# enum timer_record
TIMER_LATENESS = 48
TIMER_QUEUING = 49
TIMER_DURATION = 50
TIMER_FIRINGS = 51
TIMER_MISSED = 52
TIMER_TF_WAIT = 53
TIMER_RECORD = {
    'TIMER_LATENESS': TIMER_LATENESS,
    'TIMER_QUEUING': TIMER_QUEUING,
    'TIMER_DURATION': TIMER_DURATION,
    'TIMER_FIRINGS': TIMER_FIRINGS,
    'TIMER_MISSED': TIMER_MISSED,
    'TIMER_TF_WAIT': TIMER_TF_WAIT,
}

# enum timer_kind
TIMER_ROS = 1
TIMER_WALL = 2
TIMER_STEADY = 3
TIMER_KIND = {
    'TIMER_ROS': TIMER_ROS,
    'TIMER_WALL': TIMER_WALL,
    'TIMER_STEADY': TIMER_STEADY,
}

# enum timer_info_layout
TI_PERIOD_OFFSET = 4
TI_CALLBACK_OFFSET = 16
TI_LAST_CB_DURATION_OFFSET = 56
TI_NEXT_EXPECTED_OFFSET = 72
TI_LAST_REAL_OFFSET = 80
TI_LAST_EXPIRED_OFFSET = 88
TIMER_INFO_LAYOUT = {
    'TI_PERIOD_OFFSET': TI_PERIOD_OFFSET,
    'TI_CALLBACK_OFFSET': TI_CALLBACK_OFFSET,
    'TI_LAST_CB_DURATION_OFFSET': TI_LAST_CB_DURATION_OFFSET,
    'TI_NEXT_EXPECTED_OFFSET': TI_NEXT_EXPECTED_OFFSET,
    'TI_LAST_REAL_OFFSET': TI_LAST_REAL_OFFSET,
    'TI_LAST_EXPIRED_OFFSET': TI_LAST_EXPIRED_OFFSET,
}

# enum service_record
SERVICE_QUEUING = 56
SERVICE_HANDLING = 57
SERVICE_REQUESTS = 58
SERVICE_FAILED = 59
SERVICE_THREW = 60
CLIENT_ROUND_TRIP = 61
CLIENT_CONNECT = 62
CLIENT_CALLS = 63
CLIENT_FAILED = 64
SERVICE_RECORD = {
    'SERVICE_QUEUING': SERVICE_QUEUING,
    'SERVICE_HANDLING': SERVICE_HANDLING,
    'SERVICE_REQUESTS': SERVICE_REQUESTS,
    'SERVICE_FAILED': SERVICE_FAILED,
    'SERVICE_THREW': SERVICE_THREW,
    'CLIENT_ROUND_TRIP': CLIENT_ROUND_TRIP,
    'CLIENT_CONNECT': CLIENT_CONNECT,
    'CLIENT_CALLS': CLIENT_CALLS,
    'CLIENT_FAILED': CLIENT_FAILED,
}

# enum service_layout
SP_NAME_OFFSET = 16
SC_BUFFER_OFFSET = 24
SM_NUM_BYTES_OFFSET = 16
SSL_NAME_OFFSET = 40
SSL_PERSISTENT_OFFSET = 72
SSL_CURRENT_CALL_OFFSET = 320
CALL_INFO_SUCCESS_OFFSET = 208
FALSE_RESPONSE_BYTES = 5
SERVICE_LAYOUT = {
    'SP_NAME_OFFSET': SP_NAME_OFFSET,
    'SC_BUFFER_OFFSET': SC_BUFFER_OFFSET,
    'SM_NUM_BYTES_OFFSET': SM_NUM_BYTES_OFFSET,
    'SSL_NAME_OFFSET': SSL_NAME_OFFSET,
    'SSL_PERSISTENT_OFFSET': SSL_PERSISTENT_OFFSET,
    'SSL_CURRENT_CALL_OFFSET': SSL_CURRENT_CALL_OFFSET,
    'CALL_INFO_SUCCESS_OFFSET': CALL_INFO_SUCCESS_OFFSET,
    'FALSE_RESPONSE_BYTES': FALSE_RESPONSE_BYTES,
}

# enum service_name_size
SERVICE_NAME_BYTES = 128
SERVICE_NAME_SIZE = {
    'SERVICE_NAME_BYTES': SERVICE_NAME_BYTES,
}

# enum tf_record
TF_LOOKUP = 72
TF_WAIT = 73
TF_WAIT_TIMEOUTS = 74
TF_FAIL_LOOKUP = 75
TF_FAIL_CONNECTIVITY = 76
TF_FAIL_EXTRAPOLATION = 77
TF_FAIL_TIMEOUT = 78
TF_FAIL_OTHER = 79
TF_CORE_LOOKUPS = 80
TF_FAIL_UNREAD = 81
TF_RECORD = {
    'TF_LOOKUP': TF_LOOKUP,
    'TF_WAIT': TF_WAIT,
    'TF_WAIT_TIMEOUTS': TF_WAIT_TIMEOUTS,
    'TF_FAIL_LOOKUP': TF_FAIL_LOOKUP,
    'TF_FAIL_CONNECTIVITY': TF_FAIL_CONNECTIVITY,
    'TF_FAIL_EXTRAPOLATION': TF_FAIL_EXTRAPOLATION,
    'TF_FAIL_TIMEOUT': TF_FAIL_TIMEOUT,
    'TF_FAIL_OTHER': TF_FAIL_OTHER,
    'TF_CORE_LOOKUPS': TF_CORE_LOOKUPS,
    'TF_FAIL_UNREAD': TF_FAIL_UNREAD,
}

# enum tf_frame_size
TF_FRAME_BYTES = 64
TF_FRAME_SIZE = {
    'TF_FRAME_BYTES': TF_FRAME_BYTES,
}

# enum queue_stats_size
QUEUE_RECORD_SLOTS = 29
QUEUE_STATS_SIZE = {
    'QUEUE_RECORD_SLOTS': QUEUE_RECORD_SLOTS,
}

# enum link_record
LINK_MESSAGES = 0
LINK_DROPPED = 1
LINK_PUBLISH_QUEUE = 2
LINK_TRANSPORT = 3
LINK_END_TO_END = 4
LINK_NETWORK = 5
LINK_SOCKET_WAIT = 6
LINK_SOCKET_WAIT_BUSY = 7
LINK_SOCKET_WAIT_STARVED = 8
LINK_SOCKET_WAIT_IDLE = 9
LINK_PUBLISH_QUEUE_BUSY = 10
LINK_PUBLISH_QUEUE_STARVED = 11
LINK_PUBLISH_QUEUE_IDLE = 12
LINK_NETWORK_BUSY = 13
LINK_NETWORK_STARVED = 14
LINK_NETWORK_IDLE = 15
LINK_RECORD_SLOTS = 16
LINK_RECORD = {
    'LINK_MESSAGES': LINK_MESSAGES,
    'LINK_DROPPED': LINK_DROPPED,
    'LINK_PUBLISH_QUEUE': LINK_PUBLISH_QUEUE,
    'LINK_TRANSPORT': LINK_TRANSPORT,
    'LINK_END_TO_END': LINK_END_TO_END,
    'LINK_NETWORK': LINK_NETWORK,
    'LINK_SOCKET_WAIT': LINK_SOCKET_WAIT,
    'LINK_SOCKET_WAIT_BUSY': LINK_SOCKET_WAIT_BUSY,
    'LINK_SOCKET_WAIT_STARVED': LINK_SOCKET_WAIT_STARVED,
    'LINK_SOCKET_WAIT_IDLE': LINK_SOCKET_WAIT_IDLE,
    'LINK_PUBLISH_QUEUE_BUSY': LINK_PUBLISH_QUEUE_BUSY,
    'LINK_PUBLISH_QUEUE_STARVED': LINK_PUBLISH_QUEUE_STARVED,
    'LINK_PUBLISH_QUEUE_IDLE': LINK_PUBLISH_QUEUE_IDLE,
    'LINK_NETWORK_BUSY': LINK_NETWORK_BUSY,
    'LINK_NETWORK_STARVED': LINK_NETWORK_STARVED,
    'LINK_NETWORK_IDLE': LINK_NETWORK_IDLE,
    'LINK_RECORD_SLOTS': LINK_RECORD_SLOTS,
}

# enum hit
HIT_PUSH = 0
HIT_CALL = 1
HIT_DESERIALIZE = 2
HIT_DESERIALIZE_RETURN = 3
HIT_CALLBACK_DONE = 4
HIT_CALIBRATE = 5
HIT_CALIBRATE_RETURN = 6
HIT_TOPIC_PUBLISH = 7
HIT_PUBLICATION_PUBLISH = 8
HIT_SEND = 9
HIT_RECV = 10
HIT_TIMER = 11
HIT_SERVICE = 12
HIT_CLIENT = 13
HIT_NODELET = 14
HIT_TF = 15
HIT_THROW = 16
HIT_COUNT = 17
HIT = {
    'HIT_PUSH': HIT_PUSH,
    'HIT_CALL': HIT_CALL,
    'HIT_DESERIALIZE': HIT_DESERIALIZE,
    'HIT_DESERIALIZE_RETURN': HIT_DESERIALIZE_RETURN,
    'HIT_CALLBACK_DONE': HIT_CALLBACK_DONE,
    'HIT_CALIBRATE': HIT_CALIBRATE,
    'HIT_CALIBRATE_RETURN': HIT_CALIBRATE_RETURN,
    'HIT_TOPIC_PUBLISH': HIT_TOPIC_PUBLISH,
    'HIT_PUBLICATION_PUBLISH': HIT_PUBLICATION_PUBLISH,
    'HIT_SEND': HIT_SEND,
    'HIT_RECV': HIT_RECV,
    'HIT_TIMER': HIT_TIMER,
    'HIT_SERVICE': HIT_SERVICE,
    'HIT_CLIENT': HIT_CLIENT,
    'HIT_NODELET': HIT_NODELET,
    'HIT_TF': HIT_TF,
    'HIT_THROW': HIT_THROW,
    'HIT_COUNT': HIT_COUNT,
}

# enum tgid_flag
TGID_TRACED = 1
TGID_NO_ORIGIN = 2
TGID_NO_SCHED = 4
TGID_TF = 8
TGID_ACTIONS = 16
TGID_COUNTS = 32
TGID_AUDITED = 64
TGID_ROSPY = 128
TGID_FLAG = {
    'TGID_TRACED': TGID_TRACED,
    'TGID_NO_ORIGIN': TGID_NO_ORIGIN,
    'TGID_NO_SCHED': TGID_NO_SCHED,
    'TGID_TF': TGID_TF,
    'TGID_ACTIONS': TGID_ACTIONS,
    'TGID_COUNTS': TGID_COUNTS,
    'TGID_AUDITED': TGID_AUDITED,
    'TGID_ROSPY': TGID_ROSPY,
}

# enum rospy_object
ROSPY_OBJECT_SHIFT = 62
ROSPY_MAX_FRAMES = 64
ROSPY_OBJECT = {
    'ROSPY_OBJECT_SHIFT': ROSPY_OBJECT_SHIFT,
    'ROSPY_MAX_FRAMES': ROSPY_MAX_FRAMES,
}

# enum queue_flag
QUEUE_UNSTAMPED = 1
QUEUE_UNMATCHABLE = 2
QUEUE_FLAG = {
    'QUEUE_UNSTAMPED': QUEUE_UNSTAMPED,
    'QUEUE_UNMATCHABLE': QUEUE_UNMATCHABLE,
}

# enum id_filter_size
ID_FILTER_WORDS = 8192
ID_FILTER_SLOTS = 65536
ID_FILTER_SIZE = {
    'ID_FILTER_WORDS': ID_FILTER_WORDS,
    'ID_FILTER_SLOTS': ID_FILTER_SLOTS,
}

# enum saved_register
REG_RBX = 0
REG_RBP = 1
REG_R12 = 2
REG_R13 = 3
REG_R14 = 4
REG_R15 = 5
REG_COUNT = 6
REG_UNKNOWN = 255
SAVED_REGISTER = {
    'REG_RBX': REG_RBX,
    'REG_RBP': REG_RBP,
    'REG_R12': REG_R12,
    'REG_R13': REG_R13,
    'REG_R14': REG_R14,
    'REG_R15': REG_R15,
    'REG_COUNT': REG_COUNT,
    'REG_UNKNOWN': REG_UNKNOWN,
}

# enum lost_kind
LOST_EVENTS = 0
LOST_STATS = 1
LOST_HIST = 2
LOST_SPANS = 3
LOST_COUNT = 4
LOST_KIND = {
    'LOST_EVENTS': LOST_EVENTS,
    'LOST_STATS': LOST_STATS,
    'LOST_HIST': LOST_HIST,
    'LOST_SPANS': LOST_SPANS,
    'LOST_COUNT': LOST_COUNT,
}

# enum action_sizes
ACTION_BYTES = 1024
ACTION_PROBE_EVENTS = 64
ACTION_SIZES = {
    'ACTION_BYTES': ACTION_BYTES,
    'ACTION_PROBE_EVENTS': ACTION_PROBE_EVENTS,
}

# enum action_side
ACTION_RECEIVED = 1
ACTION_SENT = 2
ACTION_SIDE = {
    'ACTION_RECEIVED': ACTION_RECEIVED,
    'ACTION_SENT': ACTION_SENT,
}

# enum event_type
EVENT_SENT = 1
EVENT_RECEIVED = 2
EVENT_TYPE = {
    'EVENT_SENT': EVENT_SENT,
    'EVENT_RECEIVED': EVENT_RECEIVED,
}

# enum origin_kind
KIND_TCP = 1
KIND_INTRA = 2
ORIGIN_KIND = {
    'KIND_TCP': KIND_TCP,
    'KIND_INTRA': KIND_INTRA,
}

# enum hist_shape
HIST_GROUP = 16
HIST_SHAPE = {
    'HIST_GROUP': HIST_GROUP,
}

# enum fingerprint_size
FP_HEAD = 24
FP_TAIL = 8
FINGERPRINT_SIZE = {
    'FP_HEAD': FP_HEAD,
    'FP_TAIL': FP_TAIL,
}

# enum hot_hist_size
HOT_STAGES = 11
HOT_HIST_SIZE = {
    'HOT_STAGES': HOT_STAGES,
}

# enum span_type
SPAN_MESSAGE = 1
SPAN_PUBLISH = 2
SPAN_TIMER = 3
SPAN_SERVICE = 4
SPAN_TYPE = {
    'SPAN_MESSAGE': SPAN_MESSAGE,
    'SPAN_PUBLISH': SPAN_PUBLISH,
    'SPAN_TIMER': SPAN_TIMER,
    'SPAN_SERVICE': SPAN_SERVICE,
}


class ServiceName(ctypes.Structure):
    """struct service_name"""
    _fields_ = [
        ('text', ctypes.c_uint8 * 128),
    ]


class TfFrame(ctypes.Structure):
    """struct tf_frame"""
    _fields_ = [
        ('text', ctypes.c_uint8 * 64),
    ]


class TfPair(ctypes.Structure):
    """struct tf_pair"""
    _fields_ = [
        ('target', ctypes.c_uint64),
        ('source', ctypes.c_uint64),
    ]


class RospySock(ctypes.Structure):
    """struct rospy_sock"""
    _fields_ = [
        ('frames', ctypes.c_uint64),
        ('reads', ctypes.c_uint64),
        ('multi', ctypes.c_uint64),
        ('need', ctypes.c_uint64),
        ('batch_ns', ctypes.c_uint64),
        ('oncpu_ns', ctypes.c_uint64),
        ('runq_ns', ctypes.c_uint64),
        ('blocked_ns', ctypes.c_uint64),
        ('batch_tid', ctypes.c_uint32),
        ('batch_frames', ctypes.c_uint32),
        ('lost_sync', ctypes.c_uint32),
        ('synced', ctypes.c_uint8),
        ('in_recv', ctypes.c_uint8),
        ('pad', ctypes.c_uint8 * 2),
    ]


class ActionEvent(ctypes.Structure):
    """struct action_event"""
    _fields_ = [
        ('t', ctypes.c_uint64),
        ('object', ctypes.c_uint64),
        ('tgid', ctypes.c_uint32),
        ('side', ctypes.c_uint32),
        ('len', ctypes.c_uint32),
        ('copied', ctypes.c_uint32),
        ('data', ctypes.c_uint8 * 1024),
    ]


class CallSite(ctypes.Structure):
    """struct call_site"""
    _fields_ = [
        ('lo', ctypes.c_uint64),
        ('hi', ctypes.c_uint64),
        ('reg', ctypes.c_uint32),
        ('misses', ctypes.c_uint32),
    ]


class ObjectKey(ctypes.Structure):
    """struct object_key"""
    _fields_ = [
        ('tgid', ctypes.c_uint32),
        ('pad', ctypes.c_uint32),
        ('object', ctypes.c_uint64),
    ]


class StatKey(ctypes.Structure):
    """struct stat_key"""
    _fields_ = [
        ('tgid', ctypes.c_uint32),
        ('record', ctypes.c_uint32),
        ('object', ctypes.c_uint64),
    ]


class HistKey(ctypes.Structure):
    """struct hist_key"""
    _fields_ = [
        ('tgid', ctypes.c_uint32),
        ('record', ctypes.c_uint32),
        ('object', ctypes.c_uint64),
        ('group', ctypes.c_uint32),
        ('pad', ctypes.c_uint32),
    ]


class HistGroup(ctypes.Structure):
    """struct hist_group"""
    _fields_ = [
        ('n', ctypes.c_uint32 * 16),
    ]


class StatVal(ctypes.Structure):
    """struct stat_val"""
    _fields_ = [
        ('count', ctypes.c_uint64),
        ('sum_ns', ctypes.c_uint64),
        ('min_ns', ctypes.c_uint64),
        ('max_ns', ctypes.c_uint64),
    ]


class HotHist(ctypes.Structure):
    """struct hot_hist"""
    _fields_ = [
        ('group1', ctypes.c_uint32),
        ('n', ctypes.c_uint32 * 16),
    ]


class QueueStats(ctypes.Structure):
    """struct queue_stats"""
    _fields_ = [
        ('rec', StatVal * 29),
        ('hot', HotHist * 11),
    ]


class SockKey(ctypes.Structure):
    """struct sock_key"""
    _fields_ = [
        ('tgid', ctypes.c_uint32),
        ('fd', ctypes.c_uint32),
    ]


class RxTuple(ctypes.Structure):
    """struct rx_tuple"""
    _fields_ = [
        ('laddr', ctypes.c_uint8 * 16),
        ('raddr', ctypes.c_uint8 * 16),
        ('lport', ctypes.c_uint32),
        ('rport', ctypes.c_uint32),
    ]


class LinkKey(ctypes.Structure):
    """struct link_key"""
    _fields_ = [
        ('sub_tgid', ctypes.c_uint32),
        ('pub_tgid', ctypes.c_uint32),
        ('queue', ctypes.c_uint64),
        ('publication', ctypes.c_uint64),
        ('intra', ctypes.c_uint32),
        ('path', ctypes.c_uint32),
    ]


class LinkStats(ctypes.Structure):
    """struct link_stats"""
    _fields_ = [
        ('rec', StatVal * 16),
    ]


class LinkHistKey(ctypes.Structure):
    """struct link_hist_key"""
    _fields_ = [
        ('link', LinkKey),
        ('record', ctypes.c_uint32),
        ('group', ctypes.c_uint32),
    ]


class Fingerprint(ctypes.Structure):
    """struct fingerprint"""
    _fields_ = [
        ('len', ctypes.c_uint32),
        ('pad', ctypes.c_uint32),
        ('hash', ctypes.c_uint64),
        ('head', ctypes.c_uint8 * 24),
        ('tail', ctypes.c_uint8 * 8),
    ]


class SpanEvent(ctypes.Structure):
    """struct span_event"""
    _fields_ = [
        ('type', ctypes.c_uint32),
        ('tgid', ctypes.c_uint32),
        ('tid', ctypes.c_uint32),
        ('origin_tgid', ctypes.c_uint32),
        ('object', ctypes.c_uint64),
        ('t0', ctypes.c_uint64),
        ('t1', ctypes.c_uint64),
        ('t2', ctypes.c_uint64),
        ('t3', ctypes.c_uint64),
        ('origin_publication', ctypes.c_uint64),
        ('origin_t_publish', ctypes.c_uint64),
    ]


class XferEvent(ctypes.Structure):
    """struct xfer_event"""
    _fields_ = [
        ('type', ctypes.c_uint32),
        ('tgid', ctypes.c_uint32),
        ('fd', ctypes.c_uint32),
        ('kind', ctypes.c_uint32),
        ('object', ctypes.c_uint64),
        ('publication', ctypes.c_uint64),
        ('seq', ctypes.c_uint64),
        ('dropped', ctypes.c_uint64),
        ('t_publish', ctypes.c_uint64),
        ('t_serialized', ctypes.c_uint64),
        ('t_sent', ctypes.c_uint64),
        ('t_received', ctypes.c_uint64),
        ('t_done', ctypes.c_uint64),
        ('fp', Fingerprint),
    ]
