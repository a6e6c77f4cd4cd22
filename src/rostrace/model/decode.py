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


def _add_queue_record(numbers, record, count, sum_ns, min_ns, max_ns, syscall_name):
    kind, name = QUEUE_RECORDS.get(record, (None, None))
    if kind == 'STAGE':
        numbers.stages[name] = Accumulator(count, sum_ns, min_ns, max_ns)
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


def _add_publication_record(numbers, record, value):
    kind, name = PUBLICATION_RECORDS[record]
    if kind == 'STAGE':     # serialization, sampling_age
        setattr(numbers, name, Accumulator(value.count, value.sum_ns, value.min_ns,
                                           value.max_ns))
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
    per link record])], link_hists: [(LinkHistKey row: the link key's fields, record,
    group; [bucket counts])] (probes/drain.py)."""
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
                acc = stages.get(name)
                if acc is None:
                    stages[name] = Accumulator(count, sum_ns, min_ns, max_ns)
                else:
                    acc.add(count, sum_ns, min_ns, max_ns, {})
    for key, counts in link_hists:
        link = links.get(LinkId(key.pub_tgid, key.publication, key.sub_tgid, key.queue,
                                bool(key.intra), bool(key.path)))
        name = LINK_RECORDS.get(key.record)
        if link is not None and name:
            add_group(link.stages[name].buckets, key.group, counts)
    for link in links.values():
        for name in LINK_HISTOGRAMS:
            acc = link.stages.get(name)
            if acc is not None:
                _zero_bucket(acc)
    return links


def decode_window(stats, hists, *, queue_stats=(), syscall_name=str):
    """stats: [(StatKey, StatVal)], hists: [(HistKey, HistGroup)], queue_stats: [(ObjectKey,
    QueueStats)] (one value per queue) of one generation -> ([QueueRow],
    [PublicationRow]). `syscall_name(number)` names audited syscalls."""
    queues, publications = {}, {}
    for key, value in queue_stats:
        numbers = queues.setdefault((key.tgid, key.object), TopicNumbers())
        for record in _queue_records(value):
            _add_queue_record(numbers, *record, syscall_name)
        for record, group, counts in _queue_hot(value):
            acc = numbers.stages.get(QUEUE_RECORDS.get(record, (None, None))[1])
            if acc is not None:
                add_group(acc.buckets, group, counts)
    for key, value in stats:
        if key.record in TIMER_RECORDS or key.record in TIMER_COUNTS \
                or key.record in SERVICE_RECORDS or key.record in TF_RECORDS:
            continue                    # decode_timers(), decode_services(), decode_tf()
        if key.record in PUBLICATION_RECORDS:
            numbers = publications.setdefault((key.tgid, key.object), PublicationNumbers())
            _add_publication_record(numbers, key.record, value)
        else:
            numbers = queues.setdefault((key.tgid, key.object), TopicNumbers())
            _add_queue_record(numbers, key.record, value.count, value.sum_ns, value.min_ns,
                              value.max_ns, syscall_name)
    for key, counts in hists:
        acc = _histogram_owner(queues, publications, key)
        if acc is not None:
            add_group(acc.buckets, key.group, counts)
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
                t.stages[TIMER_RECORDS[key.record]] = _accumulator(value)
    return _with_histograms(timers, hists, lambda k: (TimerKey(k.tgid, k.object),
                                                      TIMER_RECORDS.get(k.record)))


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
            numbers.stages[field_name] = _accumulator(value)
        else:
            setattr(numbers, field_name, value.count)

    def stage_of(k):
        role, field_name = SERVICE_RECORDS.get(k.record, (None, None))
        return ServiceKey(k.tgid, k.object, role), field_name
    return _with_histograms(services, hists, stage_of)


def decode_tf(stats, hists):
    """The tf2 records (tf.c) of one generation -> {TfKey: TfNumbers}."""
    pairs = {}
    for key, value in stats:
        if key.record not in TF_RECORDS:
            continue
        numbers = pairs.setdefault(TfKey(key.tgid, key.object), TfNumbers())
        if key.record in TF_STAGE_RECORDS:
            numbers.stages[TF_STAGE_RECORDS[key.record]] = _accumulator(value)
        elif key.record == abi.TF_WAIT_TIMEOUTS:
            numbers.wait_timeouts += value.count
        elif key.record == abi.TF_CORE_LOOKUPS:
            numbers.core_lookups += value.count
        else:
            kind = TF_FAILURE_RECORDS[key.record]
            numbers.failures[kind] = numbers.failures.get(kind, 0) + value.count
    return _with_histograms(pairs, hists, lambda k: (TfKey(k.tgid, k.object),
                                                     TF_STAGE_RECORDS.get(k.record)))


def _accumulator(value):
    return Accumulator(value.count, value.sum_ns, value.min_ns, value.max_ns)


def _with_histograms(objects, hists, stage_of):
    """`objects` ({key: numbers with .stages}) with the histogram entries `stage_of(hist
    key)` -> (object key, stage name) names, and the zeros the kernel keeps no entry for."""
    for key, counts in hists:
        object_key, stage = stage_of(key)
        numbers = stage and objects.get(object_key)
        acc = numbers and numbers.stages.get(stage)
        if acc is not None:
            add_group(acc.buckets, key.group, counts)
    for numbers in objects.values():
        for acc in numbers.stages.values():
            _zero_bucket(acc)
    return objects


def add_group(buckets, group, counts):
    """One histogram entry (struct hist_group: HIST_GROUP bucket counts from bucket
    group * HIST_GROUP on; a ctypes HistGroup or its counts) into {bucket: count}."""
    base = group * abi.HIST_GROUP
    for i, n in enumerate(getattr(counts, 'n', counts)):
        if n:
            buckets[base + i] = buckets.get(base + i, 0) + n


def _zero_bucket(acc):
    """The kernel keeps no histogram entry for zero values (common.c hist_add): they are
    the samples its buckets do not hold, when the minimum says zeros occurred."""
    if acc.count and acc.min_ns == 0:
        zeros = acc.count - sum(acc.buckets.values())
        if zeros > 0:
            acc.buckets[0] = acc.buckets.get(0, 0) + zeros


def _histogram_owner(queues, publications, key):
    """The Accumulator a histogram entry belongs to, or None (stats entry not seen)."""
    if key.record in PUBLICATION_RECORDS:
        numbers = publications.get((key.tgid, key.object))
        _, name = PUBLICATION_RECORDS[key.record]
        return getattr(numbers, name) if numbers is not None else None
    numbers = queues.get((key.tgid, key.object))
    _, name = QUEUE_RECORDS.get(key.record, (None, None))
    return numbers.stages.get(name) if numbers is not None and name else None
