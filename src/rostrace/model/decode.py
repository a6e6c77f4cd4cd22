"""The kernel's window maps (stats, hist; keys and values of probes/abi.py) -> typed
rows: one QueueRow per SubscriptionQueue, one PublicationRow per Publication. [pure]

Which object a key names is decided by its record's enum in rostrace.h
(queue_record or publication_record), never by which names a row happens to hold.
"""
import struct

from ..probes import abi
from .histogram import Accumulator
from .matching import LinkId, MatchedLink
from .numbers import (SERVICE_STAGES, TF_UNREAD, CallbackSum, PublicationNumbers,
                      PublicationRow, QueueRow, ServiceKey, ServiceNumbers, TfKey, TfNumbers,
                      TimerKey, TimerNumbers, TopicNumbers)

PREFIXES = ('STAGE_', 'COUNT_', 'SUM_', 'GAUGE_')


def _name(member):
    """STAGE_QUEUING_BUSY -> 'queuing_busy', COUNT_RECEIVED -> 'received'."""
    for prefix in PREFIXES:
        if member.startswith(prefix):
            return member[len(prefix):].lower()
    return None


def _records(enum):
    """{record id: (kind, name)}; kind is 'STAGE', 'COUNT', 'SUM' or 'GAUGE'."""
    return {value: (member.split('_', 1)[0], _name(member))
            for member, value in enum.items() if _name(member)}


QUEUE_RECORDS = _records(abi.QUEUE_RECORD)
TIMER_RECORDS = {abi.TIMER_LATENESS: 'lateness', abi.TIMER_QUEUING: 'queuing',
                 abi.TIMER_DURATION: 'duration', abi.TIMER_TF_WAIT: 'tf_wait'}
TIMER_COUNTS = (abi.TIMER_FIRINGS, abi.TIMER_MISSED)
# Service records (services.c) -> (role, stage or count field).
SERVICE_RECORDS = {abi.SERVICE_QUEUING: ('server', 'queuing'),
                   abi.SERVICE_HANDLING: ('server', 'handling'),
                   abi.SERVICE_REQUESTS: ('server', 'count'),
                   abi.SERVICE_FAILED: ('server', 'failed'),
                   abi.SERVICE_THREW: ('server', 'threw'),
                   abi.CLIENT_ROUND_TRIP: ('client', 'round_trip'),
                   abi.CLIENT_CONNECT: ('client', 'connect'),
                   abi.CLIENT_CALLS: ('client', 'count'),
                   abi.CLIENT_FAILED: ('client', 'failed')}
PUBLICATION_RECORDS = _records(abi.PUBLICATION_RECORD)
# tf2 records (tf.c) -> stage, or failure kind.
TF_STAGE_RECORDS = {abi.TF_LOOKUP: 'lookup', abi.TF_WAIT: 'wait'}
TF_FAILURE_RECORDS = {abi.TF_FAIL_LOOKUP: 'lookup', abi.TF_FAIL_CONNECTIVITY: 'connectivity',
                      abi.TF_FAIL_EXTRAPOLATION: 'extrapolation',
                      abi.TF_FAIL_TIMEOUT: 'timeout', abi.TF_FAIL_OTHER: 'other',
                      abi.TF_FAIL_UNREAD: TF_UNREAD}
TF_RECORDS = {*TF_STAGE_RECORDS, *TF_FAILURE_RECORDS, abi.TF_WAIT_TIMEOUTS,
              abi.TF_CORE_LOOKUPS}
HIT_NAMES = {value: member[len('HIT_'):].lower() for member, value in abi.HIT.items()
             if member != 'HIT_COUNT'}
LOST_NAMES = {value: member[len('LOST_'):].lower() for member, value in abi.LOST_KIND.items()
              if member != 'LOST_COUNT'}


def _add_queue_record(numbers, record, count, sum_ns, min_ns, max_ns, syscall_name,
                      buckets):
    kind, name = QUEUE_RECORDS.get(record, (None, None))
    if kind == 'STAGE':
        numbers.stages[name] = _with_buckets(Accumulator(count, sum_ns, min_ns, max_ns),
                                             buckets)
    elif name == 'drops_retracted':     # a drop guessed at a push that did not drop
        numbers.dropped -= count
    elif kind == 'COUNT':
        setattr(numbers, name, getattr(numbers, name) + count)
    elif kind == 'SUM':
        numbers.sums[name] = CallbackSum(callbacks=count, events=sum_ns)
    elif kind == 'GAUGE':
        setattr(numbers, name, sum_ns)
    elif record >= abi.SYSCALL_BASE:
        numbers.syscalls[syscall_name(record - abi.SYSCALL_BASE)] = count


def _add_publication_record(numbers, record, value, buckets):
    kind, name = PUBLICATION_RECORDS[record]
    if kind == 'STAGE':     # serialization, sampling_age
        setattr(numbers, name, _with_buckets(Accumulator(value.count, value.sum_ns,
                                                         value.min_ns, value.max_ns), buckets))
    else:
        numbers.published = value.count


# struct queue_stats as u64s: QUEUE_RECORD_SLOTS x (count, sum_ns, min_ns, max_ns)
_QUEUE_STATS = struct.Struct(f'<{4 * abi.QUEUE_RECORD_SLOTS}Q')
# ... then HOT_STAGES x struct hot_hist: group + 1 (0: none), HIST_GROUP bucket counts
_HOT = struct.Struct(f'<{abi.HOT_STAGES * (1 + abi.HIST_GROUP)}I')


def _queue_records(value):
    """struct queue_stats (every record of one queue) -> [(record, count, sum_ns, min_ns,
    max_ns)] of the records written in the window (count > 0)."""
    v = _QUEUE_STATS.unpack_from(bytes(value))
    return [(i // 4, *v[i:i + 4]) for i in range(0, len(v), 4) if v[i]]


def _queue_hot(value):
    """struct queue_stats -> [(stage record, group, [HIST_GROUP counts])] of the stages'
    own histogram entries that hold a group."""
    v = _HOT.unpack_from(bytes(value), _QUEUE_STATS.size)
    width = 1 + abi.HIST_GROUP
    return [(i // width, v[i] - 1, v[i + 1:i + width]) for i in range(0, len(v), width)
            if v[i]]


LINK_RECORDS = {abi.LINK_PUBLISH_QUEUE: 'publish_queue', abi.LINK_TRANSPORT: 'transport',
                abi.LINK_END_TO_END: 'end_to_end', abi.LINK_NETWORK: 'network',
                abi.LINK_SOCKET_WAIT: 'socket_wait',
                abi.LINK_SOCKET_WAIT_BUSY: 'socket_wait_busy',
                abi.LINK_SOCKET_WAIT_STARVED: 'socket_wait_starved',
                abi.LINK_SOCKET_WAIT_IDLE: 'socket_wait_idle',
                abi.LINK_PUBLISH_QUEUE_BUSY: 'publish_queue_busy',
                abi.LINK_PUBLISH_QUEUE_STARVED: 'publish_queue_starved',
                abi.LINK_PUBLISH_QUEUE_IDLE: 'publish_queue_idle',
                abi.LINK_NETWORK_BUSY: 'network_busy',
                abi.LINK_NETWORK_STARVED: 'network_starved',
                abi.LINK_NETWORK_IDLE: 'network_idle'}


# Link records the kernel keeps a histogram of (rostrace.h LINK_HAS_HISTOGRAM); the
# splits have count, sum, min and max only.
LINK_HISTOGRAMS = tuple(LINK_RECORDS[r] for r in range(abi.LINK_PUBLISH_QUEUE,
                                                       abi.LINK_SOCKET_WAIT + 1))


def decode_links(link_stats, link_hists):
    """Links matched in the kernel (probes/bpf/transport.c) of one generation ->
    {LinkId: MatchedLink}. link_stats: [(LinkKey row, [(count, sum_ns, min_ns, max_ns)
    per link record])], link_hists: {(the link key's fields, record): {bucket: count}}
    (probes/drain.py histograms(); its dicts become the links')."""
    links = {}
    records = tuple(LINK_RECORDS.items())
    for key, recs in link_stats:
        link_id = LinkId(key.pub_tgid, key.publication, key.sub_tgid, key.queue,
                         bool(key.intra), bool(key.path))
        link = links.get(link_id)
        if link is None:
            link = links[link_id] = MatchedLink(link_id)
        link.messages += recs[abi.LINK_MESSAGES][0]
        link.dropped += recs[abi.LINK_DROPPED][1]
        stages = link.stages
        for record, name in records:
            count, sum_ns, min_ns, max_ns = recs[record]
            if count:
                buckets = link_hists.get((*key, record))
                acc = stages.get(name)
                if acc is None:
                    stages[name] = _with_buckets(Accumulator(count, sum_ns, min_ns, max_ns),
                                                 buckets)
                else:
                    acc.add(count, sum_ns, min_ns, max_ns, buckets or {})
    for link in links.values():
        for name in LINK_HISTOGRAMS:
            acc = link.stages.get(name)
            if acc is not None:
                _zero_bucket(acc)
    return links


def decode_window(stats, hists, *, queue_stats=(), syscall_name=str):
    """stats: [(StatKey, StatVal)], hists: {(tgid, record, object): {bucket: count}}
    (probes/drain.py histograms(); its dicts become the stages'), queue_stats:
    [(ObjectKey, QueueStats)] (one value per queue) of one generation -> ([QueueRow],
    [PublicationRow]). `syscall_name(number)` names audited syscalls."""
    queues, publications = {}, {}
    for key, value in queue_stats:
        numbers = queues.setdefault((key.tgid, key.object), TopicNumbers())
        for record in _queue_records(value):
            _add_queue_record(numbers, *record, syscall_name,
                              hists.get((key.tgid, record[0], key.object)))
        for record, group, counts in _queue_hot(value):
            acc = numbers.stages.get(QUEUE_RECORDS.get(record, (None, None))[1])
            if acc is not None:
                add_group(acc.buckets, group, counts)
    for key, value in stats:
        if key.record in TIMER_RECORDS or key.record in TIMER_COUNTS \
                or key.record in SERVICE_RECORDS or key.record in TF_RECORDS:
            continue                    # decode_timers(), decode_services(), decode_tf()
        buckets = hists.get((key.tgid, key.record, key.object))
        if key.record in PUBLICATION_RECORDS:
            numbers = publications.setdefault((key.tgid, key.object), PublicationNumbers())
            _add_publication_record(numbers, key.record, value, buckets)
        else:
            numbers = queues.setdefault((key.tgid, key.object), TopicNumbers())
            _add_queue_record(numbers, key.record, value.count, value.sum_ns, value.min_ns,
                              value.max_ns, syscall_name, buckets)
    for numbers in queues.values():
        numbers.dropped = max(numbers.dropped, 0)   # retracted in the window after its guess
        for acc in numbers.stages.values():
            _zero_bucket(acc)
    for numbers in publications.values():
        _zero_bucket(numbers.serialization)
    return ([QueueRow(pid, queue, n) for (pid, queue), n in queues.items()],
            [PublicationRow(pid, pub, n) for (pid, pub), n in publications.items()])


def decode_timers(stats, hists):
    """The timer records (timers.c) of one generation -> {TimerKey: TimerNumbers}."""
    timers = {}
    for key, value in stats:
        if key.record in TIMER_RECORDS or key.record in TIMER_COUNTS:
            t = timers.setdefault(TimerKey(key.tgid, key.object), TimerNumbers())
            if key.record == abi.TIMER_FIRINGS:
                t.firings, t.kind = value.count, value.max_ns
            elif key.record == abi.TIMER_MISSED:
                t.missed = value.sum_ns
            else:
                t.stages[TIMER_RECORDS[key.record]] = _accumulator(key, value, hists)
    return _zero_buckets(timers)


def decode_services(stats, hists):
    """The service records (services.c) of one generation -> {ServiceKey:
    ServiceNumbers}."""
    services = {}
    for key, value in stats:
        role, field_name = SERVICE_RECORDS.get(key.record, (None, None))
        if role is None:
            continue
        numbers = services.setdefault(ServiceKey(key.tgid, key.object, role), ServiceNumbers())
        if field_name in SERVICE_STAGES:
            numbers.stages[field_name] = _accumulator(key, value, hists)
        else:
            setattr(numbers, field_name, value.count)
    return _zero_buckets(services)


def decode_tf(stats, hists):
    """The tf2 records (tf.c) of one generation -> {TfKey: TfNumbers}."""
    pairs = {}
    for key, value in stats:
        if key.record not in TF_RECORDS:
            continue
        numbers = pairs.setdefault(TfKey(key.tgid, key.object), TfNumbers())
        if key.record in TF_STAGE_RECORDS:
            numbers.stages[TF_STAGE_RECORDS[key.record]] = _accumulator(key, value, hists)
        elif key.record == abi.TF_WAIT_TIMEOUTS:
            numbers.wait_timeouts += value.count
        elif key.record == abi.TF_CORE_LOOKUPS:
            numbers.core_lookups += value.count
        else:
            kind = TF_FAILURE_RECORDS[key.record]
            numbers.failures[kind] = numbers.failures.get(kind, 0) + value.count
    return _zero_buckets(pairs)


def _accumulator(key, value, hists):
    """The Accumulator of a stats entry, with its histogram from `hists`."""
    return _with_buckets(Accumulator(value.count, value.sum_ns, value.min_ns, value.max_ns),
                         hists.get((key.tgid, key.record, key.object)))


def _with_buckets(acc, buckets):
    """`acc` holding `buckets` ({bucket: count}, taken, not copied; None: none)."""
    if buckets:
        acc.buckets = buckets
    return acc


def _zero_buckets(objects):
    """`objects` ({key: numbers with .stages}) with the zeros the kernel keeps no
    histogram entry for."""
    for numbers in objects.values():
        for acc in numbers.stages.values():
            _zero_bucket(acc)
    return objects


def add_group(buckets, group, counts):
    """One histogram group (HIST_GROUP bucket counts from bucket group * HIST_GROUP on)
    into {bucket: count}."""
    base = group * abi.HIST_GROUP
    for i, n in enumerate(counts):
        if n:
            buckets[base + i] = buckets.get(base + i, 0) + n


def _zero_bucket(acc):
    """The kernel keeps no histogram entry for zero values (common.c hist_add): they are
    the samples its buckets do not hold, when the minimum says zeros occurred."""
    if acc.count and acc.min_ns == 0:
        zeros = acc.count - sum(acc.buckets.values())
        if zeros > 0:
            acc.buckets[0] = acc.buckets.get(0, 0) + zeros
