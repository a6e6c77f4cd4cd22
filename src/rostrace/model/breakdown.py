"""TopicNumbers of one window -> TopicBreakdown per (process, topic). [pure]"""
from dataclasses import dataclass, field

from .histogram import EMPTY, unavailable
from .numbers import SERVICE_STAGES, TF_FAILURES, TF_STAGES, TIMER_STAGES, CallbackSum

STAGES = ('queuing', 'deserialization', 'processing', 'total')
PARTS = ('queuing', 'deserialization', 'processing')          # total = their sum
# What the scheduler did meanwhile (kernel tracepoints, probes/bpf/sched.c).
SPLITS = {'queuing': ('queuing_busy', 'queuing_starved', 'queuing_idle'),
          'processing': ('processing_oncpu', 'processing_runqueue', 'processing_blocked')}
SPLIT_STAGES = SPLITS['queuing'] + SPLITS['processing']
# Age of the message at receipt: roscpp's receipt time - header.stamp (topics whose type
# starts with a std_msgs/Header; ROS time, so simulated time with /use_sim_time).
STAMP_STAGE = 'stamp_age'
# Waits for a transform inside the callback (tf2_ros::Buffer::canTransform with a timeout,
# alone or inside lookupTransform): part of processing, one sample per wait.
TF_WAIT_STAGE = 'processing_tf_wait'
NO_TF = 'the process does not use tf2 (or its tf2 probes are not in)'
ALL_STAGES = STAGES + SPLIT_STAGES + (STAMP_STAGE, TF_WAIT_STAGE)
NO_STAMP = 'no header stamp seen (the type has no std_msgs/Header first, or stamps are 0)'
PER_CALLBACK = ('voluntary_switches', 'involuntary_switches', 'page_faults')
# Across processes, per (publisher, subscriber, topic) link: serialization and the wait
# in the connection's outgoing queue (publisher side), transport = hand-off to roscpp in
# the publisher -> receipt in the subscriber, end_to_end = hand-off -> end of callback.
# Transport = serialization + publish_queue + network (first send() -> the message's
# last byte in our socket) + socket_wait (-> read by our poll thread and pushed).
LINK_STAGES = ('serialization', 'publish_queue', 'network', 'socket_wait', 'transport',
               'end_to_end')
# What the thread moving the message did meanwhile (kernel tracepoints, sched.c): the
# publisher's sending thread over publish_queue; our poll thread over network (a
# message can be held in the publisher's kernel for us: Nagle waits for our ACK) and
# over socket_wait.
LINK_SPLITS = {name: tuple(f'{name}_{state}' for state in ('busy', 'starved', 'idle'))
               for name in ('publish_queue', 'network', 'socket_wait')}
LINK_SPLIT_STAGES = sum(LINK_SPLITS.values(), ())
ALL_LINK_STAGES = LINK_STAGES + LINK_SPLIT_STAGES
INTRA_UNAVAILABLE = {name: 'intra-process: no outgoing queue'
                     for name in ('publish_queue',) + LINK_SPLITS['publish_queue']}
INTRA_UNAVAILABLE.update({name: 'intra-process: no transport'
                          for name in ('transport', 'network', 'socket_wait')
                          + LINK_SPLITS['network'] + LINK_SPLITS['socket_wait']})

# Stage -> probe points it needs (see probes/bpf/subscriber.c).
STAGE_NEEDS = {
    'queuing': ('queue_push', 'queue_call', 'deserialize', 'callback_done'),
    'deserialization': ('queue_call', 'deserialize', 'callback_done'),
    'processing': ('queue_call', 'deserialize', 'callback_done'),
    'total': ('queue_push', 'queue_call', 'deserialize', 'callback_done'),
}
STAGE_NEEDS.update({split: STAGE_NEEDS[parent] for parent, splits in SPLITS.items()
                    for split in splits})
STAGE_NEEDS[STAMP_STAGE] = ('queue_push',)
STAGE_NEEDS[TF_WAIT_STAGE] = STAGE_NEEDS['processing']
# A rospy node (engine/rospy.py) has no callback queue: `queuing` is the message's wait
# in the connection's socket, `processing` deserialization + callbacks of the messages
# one read took (each 1/k of it); what has no counterpart there needs ROSPY_NA.
ROSPY_NA = 'roscpp'
ROSPY_MISSING = {ROSPY_NA: 'rospy node: deserialization is part of processing, '
                           'queuing is the wait in the socket'}
for name in ('deserialization', 'total', STAMP_STAGE, TF_WAIT_STAGE) + SPLITS['queuing']:
    STAGE_NEEDS[name] += (ROSPY_NA,)
# ... and kernel tracepoints (system/features.py TRACEPOINTS), named 'tracepoint:<name>'
# among a target's missing points when the kernel lacks them.
SCHED, PAGE_FAULT, TCP_PROBE, SYS_ENTER = (f'tracepoint:{n}' for n in (
    'sched', 'page_fault', 'tcp_probe', 'sys_enter'))
for _split in SPLIT_STAGES:
    STAGE_NEEDS[_split] += (SCHED,)
PER_CALLBACK_NEEDS = {'voluntary_switches': SCHED, 'involuntary_switches': SCHED,
                      'page_faults': PAGE_FAULT}


@dataclass
class LinkBreakdown:
    """What one publisher's messages on a topic went through to this subscriber."""
    publisher: str          # node name
    pid: int
    intra_process: bool
    messages: int = 0       # matched messages that reached a callback
    dropped: int = 0        # dropped from the publisher's outgoing queue to us
    stages: dict = field(default_factory=dict)     # ALL_LINK_STAGES -> StageStats
    # A publisher on another host: its host, its clock - ours and the uncertainty of
    # that (seconds) which transport and end_to_end carry; values it made negative.
    publisher_host: str = ''
    clock_offset: float = 0.0
    clock_uncertainty: float = 0.0
    below_clock: int = 0

    def as_dict(self):
        out = {'publisher': self.publisher, 'pid': self.pid,
               'intra_process': self.intra_process, 'messages': self.messages,
               'dropped': self.dropped,
               'stages': {name: self.stages[name].as_dict() for name in ALL_LINK_STAGES
                          if name in self.stages}}
        if self.publisher_host:
            out.update(publisher_host=self.publisher_host, clock_offset=self.clock_offset,
                       clock_uncertainty=self.clock_uncertainty, below_clock=self.below_clock)
        return out

    def share(self, split):
        """Fraction of its parent stage's mean that `split` accounts for (0..1)."""
        return split_share(self.stages, LINK_SPLITS, split)

    def transport_share(self, splits):
        """Fraction of transport that the `splits` (summed) account for, over the
        messages that have them (matched in the kernel; a connection's first window is
        matched in user space and has transport only): their transport is rebuilt from
        its parts, network and socket wait of exactly those messages."""
        def total(name):
            s = self.stages.get(name)
            return s.mean * s.count if s is not None and s.available and s.count else 0.0

        def mean(name):
            s = self.stages.get(name)
            return s.mean if s is not None and s.available and s.count else 0.0
        network = self.stages.get('network')
        if network is None or not network.count:
            return 0.0
        whole = (total('network') + total('socket_wait')
                 + network.count * (mean('serialization') + mean('publish_queue')))
        part = sum(total(s) for s in splits)
        return min(part / whole, 1.0) if whole else 0.0


def split_shares(stages, splits):
    """[split_share of each of `splits`] (siblings), their sum computed once."""
    means = []
    for name in splits:
        s = stages.get(name)
        means.append(s.mean if s is not None and s.count else 0.0)
    total = sum(means)
    return [mean / total if total else 0.0 for mean in means]


_SIBLINGS = {}       # (id of a splits table, split) -> the splits it is one of


def split_share(stages, splits_of, split):
    """Fraction of the sum of its sibling splits' means that `split` is (0..1)."""
    siblings = _SIBLINGS.get((id(splits_of), split))
    if siblings is None:
        siblings = _SIBLINGS[(id(splits_of), split)] = next(
            splits for splits in splits_of.values() if split in splits)
    total = sum(stages[s].mean for s in siblings if s in stages and stages[s].count)
    s = stages.get(split)
    return s.mean / total if s is not None and s.count and total else 0.0


# Across hosts the split of transport needs both kernels' clocks at the byte level.
LINK_STAGE_NEEDS = {name: (SCHED,) for name in LINK_SPLIT_STAGES}
for _name in ('network', 'socket_wait') + LINK_SPLITS['network'] + LINK_SPLITS['socket_wait']:
    LINK_STAGE_NEEDS[_name] = LINK_STAGE_NEEDS.get(_name, ()) + (TCP_PROBE,)
# Links of rospy ends (probes/bpf/rospy.c, publisher.c rospy_sent): a rospy subscriber's
# transport ends at the read that took the message's last byte and the end of its
# callback is not seen per message; a rospy publisher's hand-off is not seen, its link
# starts at the message's first socket write.
ROSPY_SUB_LINK, ROSPY_PUB = 'rospy subscriber link', 'rospy publisher'
ROSPY_MISSING[ROSPY_SUB_LINK] = ('rospy subscriber: the end of a message\'s callback is not '
                                 'seen per message')
ROSPY_PUBLISHER_MISSING = {ROSPY_PUB: 'rospy publisher: its hand-off is not seen without a '
                                      'probe in the interpreter (transport starts at its '
                                      'socket write)'}
LINK_STAGE_NEEDS['end_to_end'] = (ROSPY_SUB_LINK,)
for _name in ('serialization', 'publish_queue') + LINK_SPLITS['publish_queue']:
    LINK_STAGE_NEEDS[_name] = LINK_STAGE_NEEDS.get(_name, ()) + (ROSPY_PUB,)
REMOTE_UNAVAILABLE = {name: 'publisher on another host: transport is not split'
                      for name in ('network', 'socket_wait') + LINK_SPLITS['network']
                      + LINK_SPLITS['socket_wait'] + LINK_SPLITS['publish_queue']}
CROSSING_STAGES = ('transport', 'end_to_end')


def build_link(*, publisher, pid, intra, numbers, host='', missing=None):
    """LinkBreakdown of one publisher from its LinkNumbers (`host`: the publisher's,
    when it is another host's; `missing`: {point: reason} as for build_breakdown)."""
    stages = {}
    offset_ns, uncertainty_ns = numbers.clock or (0, 0)
    disabled = _disabled(LINK_STAGE_NEEDS, missing or {})
    for name in ALL_LINK_STAGES:
        acc = numbers.stages.get(name)
        if name in disabled:
            stages[name] = unavailable(disabled[name])
        elif intra and name in INTRA_UNAVAILABLE:
            stages[name] = unavailable(INTRA_UNAVAILABLE[name])
        elif intra and name == 'serialization' and not (acc and acc.count):
            stages[name] = unavailable('intra-process: no copy, not serialized')
        elif host and name in REMOTE_UNAVAILABLE:
            stages[name] = unavailable(REMOTE_UNAVAILABLE[name])
        elif host and name in CROSSING_STAGES and acc and acc.count and \
                uncertainty_ns >= acc.stats().mean * 1e9:
            stages[name] = unavailable(
                f'clock offset to {host} known to +-{uncertainty_ns / 1e6:.3f} ms, more than '
                f'the latency: not measurable across these hosts')
        else:
            stages[name] = acc.stats() if acc else EMPTY
    return LinkBreakdown(publisher=publisher, pid=pid, intra_process=intra,
                         messages=numbers.messages, dropped=numbers.dropped, stages=stages,
                         publisher_host=host, clock_offset=offset_ns / 1e9,
                         clock_uncertainty=uncertainty_ns / 1e9,
                         below_clock=numbers.below_clock)


@dataclass
class TimerBreakdown:
    """One roscpp timer of a traced process over a window (probes/bpf/timers.c)."""
    node: str
    pid: int
    host: str
    timer: str                # the callback's name, else period + address
    period_s: float
    kind: str                 # ros (ROS time: sim time when /use_sim_time), wall, steady
    window_s: float
    count: int = 0            # firings (callbacks run)
    missed: int = 0           # expected firings roscpp skipped (a callback ran too long)
    stages: dict = field(default_factory=dict)     # TIMER_STAGES -> StageStats

    def as_dict(self):
        return {'timer': self.timer, 'period': self.period_s, 'kind': self.kind,
                'count': self.count, 'missed': self.missed,
                'stages': {name: self.stages[name].as_dict() for name in TIMER_STAGES}}


def build_timer(*, node, pid, host, timer, period_s, kind, window_s, numbers):
    """TimerBreakdown of one timer from its TimerNumbers."""
    stages = {name: numbers.stages[name].stats() if name in numbers.stages
              else unavailable(NO_TF) if name == 'tf_wait'
              else EMPTY for name in TIMER_STAGES}
    return TimerBreakdown(node=node, pid=pid, host=host, timer=timer, period_s=period_s,
                          kind=kind, window_s=window_s, count=numbers.firings,
                          missed=numbers.missed, stages=stages)


# Service stages by role, and why the others do not apply.
SERVICE_ROLE_STAGES = {'server': ('queuing', 'handling'), 'client': ('round_trip', 'connect')}
SERVICE_UNAVAILABLE = {
    'response': "the response is written by roscpp's poll thread: not measured",
    'round_trip': 'server side', 'connect': 'server side',
    'queuing': 'client side', 'handling': 'client side (the server is traced on its own)'}


@dataclass
class ServiceBreakdown:
    """One service of a traced process, as its server or as a client, over a window."""
    node: str
    pid: int
    host: str
    service: str
    role: str                 # 'server' or 'client'
    window_s: float
    count: int = 0            # requests served / calls made
    failed: int = 0           # handler returned false / the server answered failed
    threw: int = 0            # server: the handler threw (roscpp caught it, answered failed)
    stages: dict = field(default_factory=dict)     # SERVICE_STAGES -> StageStats

    def as_dict(self):
        return {'service': self.service, 'role': self.role, 'count': self.count,
                'failed': self.failed, 'threw': self.threw,
                'stages': {name: self.stages[name].as_dict() for name in SERVICE_STAGES}}


def build_service(*, node, pid, host, service, role, window_s, numbers):
    """ServiceBreakdown of one service from its ServiceNumbers."""
    stages = {}
    for name in SERVICE_STAGES:
        if name not in SERVICE_ROLE_STAGES[role]:
            stages[name] = unavailable(SERVICE_UNAVAILABLE[name] if name != 'response'
                                       or role == 'server' else 'client side')
        elif name in numbers.stages:
            stages[name] = numbers.stages[name].stats()
        else:
            stages[name] = EMPTY
    return ServiceBreakdown(node=node, pid=pid, host=host, service=service, role=role,
                            window_s=window_s, count=numbers.count, failed=numbers.failed,
                            threw=numbers.threw, stages=stages)


@dataclass
class TfBreakdown:
    """One (target frame, source frame) pair a traced process looked up, over a window."""
    node: str
    pid: int
    host: str
    target_frame: str
    source_frame: str
    window_s: float
    lookups: int = 0          # lookupTransform calls: tf2_ros::Buffer's (timed, the lookup
                              # stage) + tf2::BufferCore's called directly (counted only)
    waits: int = 0            # canTransform calls with a timeout (alone or in a lookup)
    wait_timeouts: int = 0    # ... that lasted the whole timeout (> 0)
    failures: dict = field(default_factory=dict)   # TF_FAILURES kind -> lookups that threw
    stages: dict = field(default_factory=dict)     # TF_STAGES -> StageStats

    @property
    def failed(self):
        return sum(self.failures.values())

    @property
    def pair(self):
        return f'{self.target_frame}\u2192{self.source_frame}'

    def as_dict(self):
        return {'target_frame': self.target_frame, 'source_frame': self.source_frame,
                'lookups': self.lookups, 'waits': self.waits,
                'wait_timeouts': self.wait_timeouts, 'failed': self.failed,
                'failures': {kind: self.failures.get(kind, 0) for kind in TF_FAILURES},
                'stages': {name: self.stages[name].as_dict() for name in TF_STAGES}}


def build_tf(*, node, pid, host, target_frame, source_frame, window_s, numbers):
    """TfBreakdown of one frame pair from its TfNumbers."""
    stages = {name: numbers.stages[name].stats() if name in numbers.stages
              else EMPTY for name in TF_STAGES}
    return TfBreakdown(node=node, pid=pid, host=host, target_frame=target_frame,
                       source_frame=source_frame, window_s=window_s,
                       lookups=stages['lookup'].count + numbers.core_lookups,
                       waits=stages['wait'].count,
                       wait_timeouts=numbers.wait_timeouts,
                       failures={k: numbers.failures.get(k, 0) for k in TF_FAILURES},
                       stages=stages)


ACTION_STAGES = ('accept', 'first_feedback', 'feedback_interval', 'result')
ACTION_OUTCOMES = ('succeeded', 'preempted', 'aborted', 'rejected', 'recalled', 'other')


@dataclass
class ActionBreakdown:
    """One actionlib action of a traced process, as its server (per client) or as a
    client, over a window (model/actions.py says what each stage spans)."""
    node: str
    pid: int
    host: str
    action: str               # its namespace
    role: str                 # 'server' or 'client'
    peer: str                 # server side: the client node ('' when not told)
    window_s: float
    goals: int = 0
    accepted: int = 0
    cancels: int = 0
    active: int = 0           # accepted, no result yet, at the window's end
    outcomes: dict = field(default_factory=dict)   # ACTION_OUTCOMES -> results
    stages: dict = field(default_factory=dict)     # ACTION_STAGES -> StageStats

    @property
    def count(self):
        return self.goals

    def as_dict(self):
        return {'action': self.action, 'role': self.role, 'peer': self.peer,
                'goals': self.goals, 'accepted': self.accepted, 'cancels': self.cancels,
                'active': self.active,
                'outcomes': {k: self.outcomes.get(k, 0) for k in ACTION_OUTCOMES},
                'stages': {name: self.stages[name].as_dict() for name in ACTION_STAGES}}


def build_action(*, node, pid, host, action, role, peer, window_s, numbers):
    """ActionBreakdown of one action from its model.actions.ActionNumbers."""
    stages = {name: numbers.stages[name].stats() if name in numbers.stages
              else EMPTY for name in ACTION_STAGES}
    return ActionBreakdown(node=node, pid=pid, host=host, action=action, role=role,
                           peer=peer, window_s=window_s, goals=numbers.goals,
                           accepted=numbers.accepted, cancels=numbers.cancels,
                           active=numbers.active,
                           outcomes={k: numbers.outcomes.get(k, 0) for k in ACTION_OUTCOMES},
                           stages=stages)


@dataclass
class TopicBreakdown:
    node: str
    pid: int
    host: str
    topic: str
    window_s: float
    nodelet: str = ''         # the nodelet that subscribed (the node is its manager)
    received: int = 0
    processed: int = 0
    dropped: int = 0
    queued: int = -1          # in the subscription queue at the window's end (-1: not known)
    exceptions: int = 0       # callbacks that threw (counted when their thread serves again)
    stamp_ahead: int = 0      # messages stamped later than their receipt (clocks disagree)
    stages: dict = field(default_factory=dict)     # stage -> StageStats
    per_callback: dict = field(default_factory=dict)   # PER_CALLBACK name -> mean (absent:
    #                                                    the kernel lacks its tracepoint)
    audit: dict = None        # real-time audit: {'allocations', 'syscalls': {name: n}}
    links: list = field(default_factory=list)      # LinkBreakdown per publisher
    transport_note: str = ''  # why publishers are missing, if some are
    overhead: object = None   # model.budget.Overhead of a target with a budget, else None
    tf_wait_frames: tuple = ()    # (target, source) of the latest TF wait in its callbacks
    client: str = 'roscpp'    # the node's client library: 'rospy' stages differ (README)

    def as_dict(self):
        out = {'topic': self.topic, 'nodelet': self.nodelet, 'client': self.client,
               'received': self.received,
               'processed': self.processed, 'dropped': self.dropped,
               'queued': self.queued, 'exceptions': self.exceptions,
               'stamp_ahead': self.stamp_ahead,
               'stages': {name: self.stages[name].as_dict() for name in ALL_STAGES
                          if name in self.stages},
               'per_callback': dict(self.per_callback)}
        if self.audit is not None:
            out['audit'] = self.audit
        out['publishers'] = [link.as_dict() for link in self.links]
        if self.transport_note:
            out['transport_note'] = self.transport_note
        if self.overhead is not None:
            out['overhead'] = self.overhead.as_dict()
        if self.tf_wait_frames:
            out['tf_wait_frames'] = list(self.tf_wait_frames)
        return out

    def tf_wait_share(self):
        """Fraction of the processing time spent waiting for transforms (0..1), or None
        when not measured."""
        wait, processing = self.stages.get(TF_WAIT_STAGE), self.stages.get('processing')
        if not (wait and processing and wait.available and wait.count and processing.count
                and processing.mean > 0):
            return None
        return min(1.0, wait.mean * wait.count / (processing.mean * processing.count))

    @property
    def subscriber(self):
        """Who subscribed: the nodelet in a nodelet manager, else the node."""
        return self.nodelet or self.node

    def worst_link(self, stage, statistic='mean'):
        """(value, link) of the link with the largest `statistic` of `stage`."""
        found = [(getattr(link.stages[stage], statistic), link) for link in self.links
                 if stage in link.stages and link.stages[stage].available
                 and link.stages[stage].count]
        return max(found, key=lambda f: f[0]) if found else (None, None)

    def dominant_stage(self):
        """The part (queuing, deserialization, processing) with the largest mean."""
        parts = [(self.stages[name].mean, name) for name in PARTS
                 if name in self.stages and self.stages[name].available
                 and self.stages[name].count]
        return max(parts)[1] if parts else None

    def share(self, split):
        """Fraction of its parent stage's mean that `split` accounts for (0..1)."""
        return split_share(self.stages, SPLITS, split)


def stage_availability(missing):
    """{stage: reason} for the stages a target's missing probe points disable (a new
    dict: callers add to it)."""
    return dict(_disabled(STAGE_NEEDS, missing))


_DISABLED = {}       # (id of a needs table, the missing points' items) -> _disabled (a
                    # target's missing points are the same every window)


def _disabled(needs_of, missing):
    """{stage: reason} of the stages in `needs_of` that `missing` disables (shared: not
    to be changed)."""
    key = (id(needs_of), tuple(missing.items()))
    out = _DISABLED.get(key)
    if out is None:
        if len(_DISABLED) > 1000:
            _DISABLED.clear()
        out = _DISABLED[key] = _disabled_now(needs_of, missing)
    return out


def _disabled_now(needs_of, missing):
    out = {}
    for stage, needs in needs_of.items():
        reasons = [missing[p] for p in needs if p in missing]
        if reasons:
            out[stage] = '; '.join(reasons)
    return out


def build_breakdown(*, node, pid, host, topic, window_s, numbers, missing, audited=False,
                    publisher_names=None, transport_note='', overhead=None, nodelet='',
                    tf=False, tf_wait_frames=(), rospy_publishers=frozenset(),
                    client='roscpp'):
    """TopicBreakdown of one topic from its TopicNumbers (`rospy_publishers`: pids of
    its publishers that are rospy nodes); stages whose probe points
    are `missing` ({point: reason}) or that the overhead budget's mode does not measure
    (`overhead`: model.budget.Overhead) are unavailable, never 0."""
    disabled = stage_availability(missing)
    if overhead is not None:
        for name in overhead.unmeasured:
            disabled.setdefault(name, f'overhead budget: {overhead.text}')
    stages = {}
    for name in ALL_STAGES:
        if name in disabled:
            stages[name] = unavailable(disabled[name])
        else:
            acc = numbers.stages.get(name)
            if acc:
                stages[name] = acc.stats()
            elif name == STAMP_STAGE:
                stages[name] = unavailable(NO_STAMP)
            elif name == TF_WAIT_STAGE and not tf:
                stages[name] = unavailable(NO_TF)
            else:
                stages[name] = EMPTY
    sums = numbers.sums
    audit = None
    if audited:
        allocations = sums.get('allocations', CallbackSum())
        audit = {'allocations': allocations.events,
                 'allocations_per_callback': allocations.per_callback,
                 'syscalls': dict(sorted(numbers.syscalls.items()))}
        if SYS_ENTER in missing:
            audit['syscalls_unavailable'] = missing[SYS_ENTER]
    names = publisher_names or {}
    links = [build_link(publisher=key.publisher or names.get(key.publisher_pid,
                                                            f'pid:{key.publisher_pid}'),
                        pid=key.publisher_pid, intra=key.intra, numbers=link, host=key.host,
                        missing={**missing, **ROSPY_PUBLISHER_MISSING}
                        if key.publisher_pid in rospy_publishers else missing)
             for key, link in sorted(numbers.links.items())]
    return TopicBreakdown(node=node, pid=pid, host=host, topic=topic, window_s=window_s,
                          nodelet=nodelet, received=numbers.received, processed=numbers.processed,
                          dropped=numbers.dropped, exceptions=numbers.exceptions,
                          stamp_ahead=numbers.stamp_ahead,
                          queued=-1 if numbers.queued is None else numbers.queued,
                          stages=stages,
                          per_callback={name: sums.get(name, CallbackSum()).per_callback
                                        for name in PER_CALLBACK
                                        if PER_CALLBACK_NEEDS[name] not in missing},
                          audit=audit, transport_note=transport_note, links=links,
                          overhead=overhead, tf_wait_frames=tuple(tf_wait_frames),
                          client=client)
