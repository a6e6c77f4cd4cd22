"""What one window measured, as named types that merge: the data model between the
kernel's maps and a TopicBreakdown. [pure]

    QueueRow / PublicationRow   one kernel object (SubscriptionQueue* / Publication*)
    TopicNumbers                one subscribed topic of one process, with its links
    LinkNumbers                 one publisher of that topic (LinkKey)
    TimerNumbers                one roscpp timer of one process (TimerKey)
    Window                      every topic and timer over one stretch of time
"""
import re
from dataclasses import dataclass, field
from typing import NamedTuple

from .histogram import Accumulator


class TopicKey(NamedTuple):
    pid: int
    topic: str
    nodelet: str = ''       # the nodelet that subscribed, in a nodelet manager


class PathKey(NamedTuple):
    """Messages of topic `source` published in process `source_pid` -> the end of the
    callbacks of `topic` in process `pid` they caused, 2 or more hops down."""
    source_pid: int
    source: str
    pid: int
    topic: str


class CauseKey(NamedTuple):
    """Process `pid` published `output` from callbacks of `input` (`sampled`: outside
    them, the latest `input` being the newest of its inputs)."""
    pid: int
    input: str
    output: str
    sampled: bool = False


class TimerKey(NamedTuple):
    pid: int
    timer: int              # TimerManager<...>::TimerInfo* in the process


class LinkKey(NamedTuple):
    """One publisher of a subscriber's topic; intra-process delivery is its own link.
    A publisher on another host has no pid here: its node name and host say which."""
    publisher_pid: int
    intra: bool
    publisher: str = ''
    host: str = ''


def _merge_accumulators(into, other):
    for name, acc in other.items():
        into.setdefault(name, Accumulator()).merge(acc)


@dataclass
class CallbackSum:
    """Events counted per callback (context switches, page faults, allocations)."""
    callbacks: int = 0
    events: int = 0

    def merge(self, other):
        self.callbacks += other.callbacks
        self.events += other.events
        return self

    @property
    def per_callback(self):
        return self.events / self.callbacks if self.callbacks else 0.0


@dataclass
class LinkNumbers:
    """One publisher -> this subscriber's topic: matched messages and link stages."""
    messages: int = 0           # matched messages that reached a callback
    dropped: int = 0            # dropped from the publisher's outgoing queue to us
    stages: dict = field(default_factory=dict)     # LINK_STAGES name -> Accumulator
    # Across hosts: the publisher's clock - ours (the latest) and the widest uncertainty
    # (ns) the crossing stages used, and crossing values that uncertainty made negative.
    clock: tuple = None
    below_clock: int = 0

    def merge(self, other):
        self.messages += other.messages
        self.dropped += other.dropped
        self.below_clock += other.below_clock
        if other.clock is not None:     # the latest offset, the widest uncertainty
            widest = max(other.clock[1], self.clock[1] if self.clock else 0)
            self.clock = (other.clock[0], widest)
        _merge_accumulators(self.stages, other.stages)
        return self


@dataclass
class TopicNumbers:
    """One subscribed topic of one process over a window (or several, merged)."""
    received: int = 0
    processed: int = 0
    dropped: int = 0
    exceptions: int = 0         # callbacks that threw
    stamp_ahead: int = 0        # header.stamp later than roscpp's receipt time
    queued: int = None          # in the queue at the window's end (None: not known)
    stages: dict = field(default_factory=dict)     # stage name -> Accumulator
    sums: dict = field(default_factory=dict)       # PER_CALLBACK/audit name -> CallbackSum
    syscalls: dict = field(default_factory=dict)   # syscall name -> count (audit)
    links: dict = field(default_factory=dict)      # LinkKey -> LinkNumbers

    def merge(self, other):
        self.received += other.received
        self.processed += other.processed
        self.dropped += other.dropped
        self.exceptions += other.exceptions
        self.stamp_ahead += other.stamp_ahead
        if other.queued is not None:        # `other` is the later window
            self.queued = other.queued
        _merge_accumulators(self.stages, other.stages)
        for name, s in other.sums.items():
            self.sums.setdefault(name, CallbackSum()).merge(s)
        for name, count in other.syscalls.items():
            self.syscalls[name] = self.syscalls.get(name, 0) + count
        for key, link in other.links.items():
            self.links.setdefault(key, LinkNumbers()).merge(link)
        return self


@dataclass
class PublicationNumbers:
    """One Publication (a published topic) of one traced publisher over a window."""
    published: int = 0
    serialization: Accumulator = field(default_factory=Accumulator)
    sampling_age: Accumulator = field(default_factory=Accumulator)  # published outside callbacks

    def merge(self, other):
        self.published += other.published
        self.serialization.merge(other.serialization)
        self.sampling_age.merge(other.sampling_age)
        return self


class QueueRow(NamedTuple):
    """What the kernel aggregated for one SubscriptionQueue of one process."""
    pid: int
    queue: int
    numbers: TopicNumbers


class PublicationRow(NamedTuple):
    """What the kernel aggregated for one Publication of one process."""
    pid: int
    publication: int
    numbers: PublicationNumbers


TIMER_STAGES = ('lateness', 'queuing', 'duration', 'tf_wait')
SERVICE_STAGES = ('queuing', 'handling', 'response', 'round_trip', 'connect')


class ServiceKey(NamedTuple):
    pid: int
    service: int            # server: its ServicePublication*; client: hash of the name
    role: str               # 'server' or 'client'


@dataclass
class ServiceNumbers:
    """One service of one process, as server or client, over a window."""
    count: int = 0              # requests served / calls made
    failed: int = 0             # handler returned false / the server said failed
    threw: int = 0              # server: the handler threw (roscpp caught it)
    stages: dict = field(default_factory=dict)     # SERVICE_STAGES name -> Accumulator

    def merge(self, other):
        self.count += other.count
        self.failed += other.failed
        self.threw += other.threw
        _merge_accumulators(self.stages, other.stages)
        return self


@dataclass
class TimerNumbers:
    """One roscpp timer over a window: firings, missed periods, per-firing stages."""
    kind: int = 0               # abi TIMER_ROS / TIMER_WALL / TIMER_STEADY, 0 unknown
    firings: int = 0
    missed: int = 0
    stages: dict = field(default_factory=dict)     # TIMER_STAGES name -> Accumulator

    def merge(self, other):
        self.kind = other.kind or self.kind
        self.firings += other.firings
        self.missed += other.missed
        _merge_accumulators(self.stages, other.stages)
        return self


TF_STAGES = ('lookup', 'wait')
TF_FAILURES = ('lookup', 'connectivity', 'extrapolation', 'timeout', 'other')
TF_UNREAD = 'unread'        # a failure whose type the kernel could not read (engine/tf.py)
TF_EXCEPTIONS = {'LookupException': 'lookup', 'ConnectivityException': 'connectivity',
                 'ExtrapolationException': 'extrapolation', 'TimeoutException': 'timeout'}


def tf_failure_kind(mangled):
    """The TF_FAILURES kind of a thrown type by its mangled name (type_info::name(),
    e.g. b'N3tf215LookupExceptionE'), or None when it is not tf2's (as tf.c decides)."""
    m = re.match(rb'N3tf2(\d+)', mangled)
    if not m:
        return None
    name = mangled[m.end():m.end() + int(m[1])]
    return TF_EXCEPTIONS.get(name.decode('ascii', 'replace'), 'other')


class TfKey(NamedTuple):
    pid: int
    pair: int               # hash of (target frame, source frame), tf.c


@dataclass
class TfNumbers:
    """One (target, source) frame pair of one process's tf2 lookups over a window."""
    wait_timeouts: int = 0      # canTransform waits that lasted their whole timeout (> 0)
    core_lookups: int = 0       # tf2::BufferCore::lookupTransform called directly (untimed)
    failures: dict = field(default_factory=dict)   # TF_FAILURES name -> lookups that threw
    stages: dict = field(default_factory=dict)     # TF_STAGES name -> Accumulator

    def merge(self, other):
        self.wait_timeouts += other.wait_timeouts
        self.core_lookups += other.core_lookups
        for kind, n in other.failures.items():
            self.failures[kind] = self.failures.get(kind, 0) + n
        _merge_accumulators(self.stages, other.stages)
        return self


@dataclass
class Window:
    """Every topic's and timer's numbers over `window_s` seconds."""
    window_s: float
    topics: dict = field(default_factory=dict)     # TopicKey -> TopicNumbers
    timers: dict = field(default_factory=dict)     # TimerKey -> TimerNumbers
    services: dict = field(default_factory=dict)   # ServiceKey -> ServiceNumbers
    tf: dict = field(default_factory=dict)         # TfKey -> TfNumbers
    actions: dict = field(default_factory=dict)    # model.actions.ActionKey -> ActionNumbers
    paths: dict = field(default_factory=dict)      # PathKey -> LinkNumbers (end_to_end)
    causes: dict = field(default_factory=dict)     # CauseKey -> publishes so far
    sampling: dict = field(default_factory=dict)   # (pid, topic) -> Accumulator (age)

    def merge(self, other):
        self.window_s += other.window_s
        for key, acc in other.sampling.items():
            self.sampling.setdefault(key, Accumulator()).merge(acc)
        for key, numbers in other.paths.items():
            self.paths.setdefault(key, LinkNumbers()).merge(numbers)
        self.causes.update(other.causes)
        for key, numbers in other.topics.items():
            self.topics.setdefault(key, TopicNumbers()).merge(numbers)
        for key, numbers in other.timers.items():
            self.timers.setdefault(key, TimerNumbers()).merge(numbers)
        for key, numbers in other.services.items():
            self.services.setdefault(key, ServiceNumbers()).merge(numbers)
        for key, numbers in other.tf.items():
            self.tf.setdefault(key, TfNumbers()).merge(numbers)
        for key, numbers in other.actions.items():
            self.actions.setdefault(key, type(numbers)()).merge(numbers)
        return self
