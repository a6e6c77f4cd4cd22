"""TopicBreakdown / Status -> LatencyBreakdown / DiagnosticArray (the only rospy message code)."""
import math
import struct
import time

import rospy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from rostrace.msg import (ActionBreakdown, LatencyBreakdown, PathLatency, PublisherLink,
                          ServiceBreakdown, StageStats, TfBreakdown, TimerBreakdown)

from ..model.breakdown import (ALL_STAGES, ALL_LINK_STAGES, PER_CALLBACK, LinkBreakdown,
                               TopicBreakdown)
from ..model.histogram import StageStats as Stats

LATENCY_TOPIC = '/rostrace/latency'
TIMERS_TOPIC = '/rostrace/timers'
SERVICES_TOPIC = '/rostrace/services'
PATHS_TOPIC = '/rostrace/paths'
TF_TOPIC = '/rostrace/tf'
ACTIONS_TOPIC = '/rostrace/actions'


# genpy's keyword constructor walks every slot: a thousand topics per window build
# ~100 000 of these, so they are filled field by field.
def stage_msg(stats):
    msg = StageStats()
    msg.available, msg.count, msg.mean, msg.min, msg.max = (
        stats.available, stats.count, stats.mean, stats.min, stats.max)
    msg.p50, msg.p90, msg.p99 = stats.p50, stats.p90, stats.p99
    return msg


_new_key_value = KeyValue.__new__


def _key_value(key, value):
    """A KeyValue without genpy's __init__ (a thousand topics' statuses hold ~70 000
    of them a window): both of its slots are set here."""
    kv = _new_key_value(KeyValue)
    kv.key = key
    kv.value = value
    return kv


def breakdown_msg(b, stamp):
    msg = LatencyBreakdown(host=b.host, node=b.node, nodelet=b.nodelet, pid=b.pid, topic=b.topic,
                           window=b.window_s, received=b.received, processed=b.processed,
                           dropped=b.dropped, queued=b.queued, exceptions=b.exceptions,
                           stamp_ahead=b.stamp_ahead)
    msg.header.stamp = stamp
    for name in ALL_STAGES:
        setattr(msg, name, stage_msg(b.stages[name]))
    for name in PER_CALLBACK:
        setattr(msg, name, b.per_callback.get(name, math.nan))     # NaN: not measured
    if b.audit is not None:
        msg.audited = True
        msg.allocations = b.audit['allocations']
        msg.syscall_names = list(b.audit['syscalls'])
        msg.syscall_counts = list(b.audit['syscalls'].values())
    for link in b.links:
        out = PublisherLink(publisher=link.publisher, pid=link.pid,
                            intra_process=link.intra_process, messages=link.messages,
                            dropped=link.dropped, publisher_host=link.publisher_host,
                            clock_offset=link.clock_offset,
                            clock_uncertainty=link.clock_uncertainty,
                            below_clock=link.below_clock)
        for name in ALL_LINK_STAGES:
            setattr(out, name, stage_msg(link.stages[name]))
        msg.publishers.append(out)
    msg.transport_note = b.transport_note
    msg.client = b.client
    if b.tf_wait_frames:
        msg.tf_wait_target, msg.tf_wait_source = b.tf_wait_frames
    if b.overhead is not None:
        msg.probe_mode = b.overhead.mode
        msg.overhead_estimate = b.overhead.estimate_percent
        msg.overhead_budget = b.overhead.budget_percent
    return msg


def stats_from_msg(s):
    return Stats(available=s.available, count=s.count, mean=s.mean, min=s.min, max=s.max,
                 p50=s.p50, p90=s.p90, p99=s.p99)


def breakdown_from_msg(msg):
    """The inverse, for views and reports built on recorded messages."""
    stages = {name: stats_from_msg(getattr(msg, name)) for name in ALL_STAGES
              if hasattr(msg, name)}        # older bags: fewer stages
    # Bags recorded before PublisherLink existed have no publishers field.
    links = [LinkBreakdown(publisher=p.publisher, pid=p.pid, intra_process=p.intra_process,
                           messages=p.messages, dropped=p.dropped,
                           stages={n: stats_from_msg(getattr(p, n)) for n in ALL_LINK_STAGES
                                   if hasattr(p, n)},   # older bags: fewer stages
                           publisher_host=getattr(p, 'publisher_host', ''),
                           clock_offset=getattr(p, 'clock_offset', 0.0),
                           clock_uncertainty=getattr(p, 'clock_uncertainty', 0.0),
                           below_clock=getattr(p, 'below_clock', 0))
             for p in getattr(msg, 'publishers', [])]
    audit = None
    if msg.audited:
        audit = {'allocations': msg.allocations,
                 'syscalls': dict(zip(msg.syscall_names, msg.syscall_counts))}
    return TopicBreakdown(node=msg.node, pid=msg.pid, host=msg.host, topic=msg.topic,
                          nodelet=getattr(msg, 'nodelet', ''),
                          window_s=msg.window, received=msg.received, processed=msg.processed,
                          dropped=msg.dropped, queued=msg.queued, stages=stages, audit=audit,
                          exceptions=getattr(msg, 'exceptions', 0),
                          stamp_ahead=getattr(msg, 'stamp_ahead', 0),
                          per_callback={n: getattr(msg, n) for n in PER_CALLBACK
                                        if not math.isnan(getattr(msg, n))},
                          links=links, transport_note=getattr(msg, 'transport_note', ''),
                          client=getattr(msg, 'client', '') or 'roscpp',
                          tf_wait_frames=((msg.tf_wait_target, msg.tf_wait_source)
                                          if getattr(msg, 'tf_wait_target', '') else ()))


def _object_msg(cls, obj, stamp, **fields):
    """A TimerBreakdown / ServiceBreakdown: `fields`, the header, one StageStats per stage."""
    fields.setdefault('count', getattr(obj, 'count', 0))
    msg = cls(host=obj.host, node=obj.node, pid=obj.pid, window=obj.window_s, **fields)
    msg.header.stamp = stamp
    for name, stats in obj.stages.items():
        setattr(msg, name, stage_msg(stats))
    return msg


def timer_msg(t, stamp):
    return _object_msg(TimerBreakdown, t, stamp, timer=t.timer, clock=t.kind,
                       period=t.period_s, missed=t.missed)


def service_msg(s, stamp):
    return _object_msg(ServiceBreakdown, s, stamp, service=s.service, role=s.role,
                       failed=s.failed, threw=s.threw)


def tf_msg(t, stamp):
    return _object_msg(TfBreakdown, t, stamp, target_frame=t.target_frame,
                       source_frame=t.source_frame, count=t.lookups, waits=t.waits,
                       wait_timeouts=t.wait_timeouts, failed=t.failed,
                       **{f'failed_{kind}': n for kind, n in t.failures.items()})


def action_msg(a, stamp):
    return _object_msg(ActionBreakdown, a, stamp, action=a.action, role=a.role, peer=a.peer,
                       count=a.goals, accepted=a.accepted, cancels=a.cancels, active=a.active,
                       **a.outcomes)


def _mean(stages, name):
    s = stages.get(name)
    return s.mean if s is not None and s.available and s.count else 0.0


def path_msg(p, stamp):
    msg = PathLatency(host=p.host, name=p.name, source=p.source, destination=p.destination,
                      node=p.node, window=p.window_s, count=p.count, note=p.note)
    msg.header.stamp = stamp
    msg.end_to_end = stage_msg(p.stages['end_to_end'])
    msg.hop_topics = [h.topic for h in p.hops]
    msg.hop_publishers = [h.publisher for h in p.hops]
    msg.hop_nodes = [h.node for h in p.hops]
    msg.hop_latency = [h.latency for h in p.hops]
    msg.hop_transport = [_mean(h.stages, 'transport') for h in p.hops]
    msg.hop_queuing = [_mean(h.stages, 'queuing') for h in p.hops]
    msg.hop_processing = [_mean(h.stages, 'processing') for h in p.hops]
    worst = p.worst_hop
    msg.worst_hop = p.hops.index(worst) if worst is not None and worst.latency else -1
    return msg


def status_msg(status):
    msg = DiagnosticStatus()
    msg.level, msg.name, msg.message, msg.hardware_id = (
        status.level, status.name, status.message, status.hardware_id)
    msg.values = [_key_value(k, v) for k, v in status.values]
    return msg


_U32, _HEAD, _LEVEL = struct.Struct('<I'), struct.Struct('<3I'), struct.Struct('<b')


def _pack_string(out, text):
    data = text.encode('utf-8')
    out.append(_U32.pack(len(data)))
    out.append(data)


class StatusArray(DiagnosticArray):
    """A DiagnosticArray serialized straight from views.diagnostics.Status objects (the
    bytes genpy would write for `status_msg` of each): a thousand topics' statuses hold
    ~50 000 KeyValues a period, and rospy serializes only for a connected subscriber."""
    __slots__ = ('statuses',)

    def __init__(self, statuses, stamp):
        super().__init__()
        self.statuses = statuses
        self.header.stamp = stamp

    def serialize(self, buff):
        header = self.header
        out = [_HEAD.pack(header.seq, header.stamp.secs, header.stamp.nsecs)]
        _pack_string(out, header.frame_id)
        out.append(_U32.pack(len(self.statuses)))
        buff.write(b''.join(out))
        for status in self.statuses:        # a status at a time: few small objects alive
            out = [_LEVEL.pack(status.level)]
            _pack_string(out, status.name)
            _pack_string(out, status.message)
            _pack_string(out, status.hardware_id)
            out.append(_U32.pack(len(status.values)))
            for key, value in status.values:
                _pack_string(out, key)
                _pack_string(out, value)
            buff.write(b''.join(out))


class RosOutput:
    """The monitor's ROS publishers: /rostrace/latency, /rostrace/timers,
    /rostrace/services, /rostrace/paths, /rostrace/tf, /rostrace/actions, /diagnostics."""

    def __init__(self):
        self.latency = rospy.Publisher(LATENCY_TOPIC, LatencyBreakdown, queue_size=1000)
        self.timers = rospy.Publisher(TIMERS_TOPIC, TimerBreakdown, queue_size=1000)
        self.services = rospy.Publisher(SERVICES_TOPIC, ServiceBreakdown, queue_size=1000)
        self.paths = rospy.Publisher(PATHS_TOPIC, PathLatency, queue_size=100)
        self.tf = rospy.Publisher(TF_TOPIC, TfBreakdown, queue_size=1000)
        self.actions = rospy.Publisher(ACTIONS_TOPIC, ActionBreakdown, queue_size=1000)
        self.diagnostics = rospy.Publisher('/diagnostics', DiagnosticArray, queue_size=10)

    def publish(self, breakdowns, statuses, timers=(), services=(), paths=(), tf=(),
                actions=(), ended=None):
        """Stamped with the window's end: `ended` (wall clock, s) moved to ROS time (sim
        time too) by how long ago it was; now when not given."""
        stamp = rospy.Time.now()
        if ended is not None:
            stamp -= rospy.Duration.from_sec(max(0.0, time.time() - ended))
        # A message is built only for a topic somebody subscribes to (rosbag, a
        # dashboard): a thousand topics' breakdowns cost a tenth of the monitor's period.
        for publisher, items, make in ((self.paths, paths, path_msg),
                                       (self.latency, breakdowns, breakdown_msg),
                                       (self.timers, timers, timer_msg),
                                       (self.services, services, service_msg),
                                       (self.tf, tf, tf_msg),
                                       (self.actions, actions, action_msg)):
            if items and publisher.get_num_connections():
                for item in items:
                    publisher.publish(make(item, stamp))
        self.diagnostics.publish(StatusArray(statuses, stamp))
