"""Breakdown + thresholds -> diagnostic status (level, message, values). [pure]

Follows diagnostic_updater's habits: the highest level wins, non-OK messages are
joined with "; ", keys carry their units.
"""
from dataclasses import dataclass, field

from ..model.breakdown import (ALL_LINK_STAGES, ALL_STAGES, LINK_SPLITS, LINK_STAGES,
                               PER_CALLBACK, SPLIT_STAGES, SPLITS, split_shares)

STARVATION_SHARE = 0.5        # starved part of queuing that makes it "dominated"
STARVATION_MIN_S = 1e-3       # ... when queuing itself is at least this long
TF_WAIT_SHARE = 0.5           # TF wait part of processing that makes it "dominated"
TF_WAIT_MIN_S = 1e-3          # ... when processing itself is at least this long

OK, WARN, ERROR, STALE = 0, 1, 2, 3
LEVEL_NAMES = {OK: 'OK', WARN: 'WARN', ERROR: 'ERROR', STALE: 'STALE'}
PREFIX = 'rostrace'


@dataclass
class Status:
    name: str
    hardware_id: str
    level: int = ERROR
    message: str = 'no message set'
    values: list = field(default_factory=list)     # [(key, value as str)]


def status_name(node, topic=None):
    return f'{PREFIX}: {node} {topic}' if topic else f'{PREFIX}: {node}'


# A status is read by people (rqt_runtime_monitor) and kept by diagnostic_aggregator for
# every topic: per stage its count, mean, p99 and max; the splits as shares of their
# stage. Every other statistic is on /rostrace/latency.
# Keys of a stage's values (made once: a thousand topics' statuses are ~50 000 values).
_STAGE_KEYS = {name: (f'{name} count', f'{name} mean (ms)', f'{name} p99 (ms)',
                      f'{name} max (ms)') for name in ALL_STAGES}
_SHARE_KEYS = {split: f'{split} share (%)' for splits in SPLITS.values() for split in splits}


def stage_values(breakdown):
    values = [('pid', str(breakdown.pid))]
    if breakdown.nodelet:
        values.append(('nodelet manager', breakdown.node))
    values += [('window (s)', f'{breakdown.window_s:.3f}'),
              ('received', str(breakdown.received)), ('processed', str(breakdown.processed)),
              ('queued', str(breakdown.queued)),
              ('dropped', str(breakdown.dropped)),
              ('callbacks that threw', str(breakdown.exceptions)),
              ('stamped ahead of receipt', str(breakdown.stamp_ahead))]
    stages = breakdown.stages
    for name in ALL_STAGES:
        s = stages.get(name)
        if s is None or name in SPLIT_STAGES:
            continue
        if not s.available:
            values.append((name, f'unavailable: {s.reason}'))
            continue
        count_key, mean_key, p99_key, max_key = _STAGE_KEYS[name]
        values.append((count_key, str(s.count)))
        if s.count:                 # nothing measured: the count says it all
            values += [(mean_key, f'{s.mean * 1e3:.3f}'), (p99_key, f'{s.p99 * 1e3:.3f}'),
                       (max_key, f'{s.max * 1e3:.3f}')]
    for stage, splits in SPLITS.items():
        if stages.get(stage) is not None and stages[stage].count:
            values += [(_SHARE_KEYS[split], f'{share * 100:.1f}')
                       for split, share in zip(splits, split_shares(stages, splits))]
    for name in PER_CALLBACK:
        value = breakdown.per_callback.get(name)
        values.append((f'{name} per callback',
                       'not measured' if value is None else f'{value:.2f}'))
    if breakdown.audit is not None:
        values.append(('allocations in callbacks', str(breakdown.audit['allocations'])))
        if breakdown.audit.get('syscalls_unavailable'):
            values.append(('syscalls in callbacks',
                           f"not measured: {breakdown.audit['syscalls_unavailable']}"))
        for call, count in breakdown.audit['syscalls'].items():
            values.append((f'syscall {call} in callbacks', str(count)))
    for link in breakdown.links:
        who = f'from {link.publisher}' + (' (intra-process)' if link.intra_process else '')
        values.append((f'{who} messages', str(link.messages)))
        values.append((f'{who} dropped in outgoing queue', str(link.dropped)))
        if link.publisher_host:
            values.append((f'{who} host', link.publisher_host))
            values.append((f'{who} clock offset (ms)',
                           f'{link.clock_offset * 1e3:.3f} +- {link.clock_uncertainty * 1e3:.3f}'))
            for name in ('transport', 'end_to_end'):
                s = link.stages.get(name)
                if s is not None and not s.available:
                    values.append((f'{who} {name}', s.reason))
        for name in LINK_STAGES:
            s = link.stages.get(name)
            if s is not None and s.available and s.count:
                values += [(f'{who} {name} mean (ms)', f'{s.mean * 1e3:.3f}'),
                           (f'{who} {name} p99 (ms)', f'{s.p99 * 1e3:.3f}')]
        for stage, splits in LINK_SPLITS.items():
            if any(link.stages.get(split) and link.stages[split].count for split in splits):
                values += [(f'{who} {split} share (%)', f'{share * 100:.1f}')
                           for split, share in zip(splits, split_shares(link.stages, splits))]
    tf_share = breakdown.tf_wait_share()
    if tf_share is not None:
        values.append(('processing_tf_wait share (%)', f'{tf_share * 100:.1f}'))
        if breakdown.tf_wait_frames:
            values.append(('TF wait frames (target, source)', ', '.join(breakdown.tf_wait_frames)))
    if breakdown.transport_note:
        values.append(('transport note', breakdown.transport_note))
    if breakdown.client == 'rospy':
        values.append(('client', 'rospy: queuing is the wait in the socket, processing '
                                 'deserialization + callbacks'))
    o = breakdown.overhead
    if o is not None:
        values += [('probe mode', o.mode), ('probe mode reason', o.reason),
                   ('estimated overhead (% of a core)', f'{o.estimate_percent:.2f}'),
                   ('overhead budget (% of a core)', f'{o.budget_percent:g}')]
    return values


# Causes of a link's transport time, by the splits that make them up (a slow network
# alone is not a finding: thresholds on `network` are).
RECEIVER_STARVED = 'the subscriber waiting for CPU'
TRANSPORT_CAUSES = {
    RECEIVER_STARVED: ('network_starved', 'socket_wait_starved'),
    "the subscriber's poll thread busy with other work": ('network_busy', 'socket_wait_busy'),
    "the publisher's sending thread waiting for CPU": ('publish_queue_starved',)}


def transport_causes(breakdown):
    """[(link, cause, share of transport)] for links whose transport (at least
    STARVATION_MIN_S on average) is mostly one of TRANSPORT_CAUSES."""
    found = []
    for link in breakdown.links:
        t = link.stages.get('transport')
        if link.intra_process or t is None or not t.available or not t.count \
                or t.mean < STARVATION_MIN_S:
            continue
        share, cause = max((link.transport_share(splits), cause)
                           for cause, splits in TRANSPORT_CAUSES.items())
        if share >= STARVATION_SHARE:
            found.append((link, cause, share))
    return found


def root_cause_findings(breakdown):
    """[(level, text)] from the scheduler splits and the real-time audit. A subscriber
    starved of CPU both while its message waited in the socket and in the queue is one
    finding (the whole life of the message), not two."""
    found = []
    q = breakdown.stages.get('queuing')
    starved = breakdown.share('queuing_starved')
    queuing_starved = (q is not None and q.count and q.mean >= STARVATION_MIN_S
                       and starved >= STARVATION_SHARE)
    queuing_text = f'{starved * 100:.0f} % of queuing ({q.mean * 1e3:.2f} ms)' \
        if queuing_starved else ''
    for link, cause, share in transport_causes(breakdown):
        t = link.stages['transport']
        part = f'{share * 100:.0f} % of {t.mean * 1e3:.2f} ms'
        if cause == RECEIVER_STARVED and queuing_text:
            found.append((WARN, f'subscriber waiting for CPU: {part} of transport from '
                                f'{link.publisher}, {queuing_text}'))
            queuing_text = ''
        else:
            found.append((WARN, f'transport from {link.publisher} dominated by {cause} '
                                f'({part})'))
    if queuing_text:
        found.append((WARN, f'queuing dominated by CPU starvation ({starved * 100:.0f} % of '
                            f'{q.mean * 1e3:.2f} ms)'))
    tf_share = breakdown.tf_wait_share()
    p = breakdown.stages.get('processing')
    if tf_share is not None and tf_share >= TF_WAIT_SHARE and p.mean >= TF_WAIT_MIN_S:
        frames = breakdown.tf_wait_frames
        pair = f' for {frames[0]}\u2192{frames[1]}' if frames else ''
        found.append((WARN, f'processing dominated by TF wait{pair} ({tf_share * 100:.0f} % '
                            f'of {p.mean * 1e3:.2f} ms)'))
    if breakdown.exceptions:
        found.append((WARN, f'{breakdown.exceptions} callbacks threw'))
    audit = breakdown.audit
    if audit is not None and audit['allocations']:
        found.append((WARN, f'critical callbacks allocate ({audit["allocations"]} malloc)'))
    if audit is not None and audit['syscalls']:
        calls = ', '.join(f'{n} x{c}' for n, c in audit['syscalls'].items())
        found.append((WARN, f'critical callbacks make syscalls ({calls})'))
    return found


def crossings(breakdown, thresholds):
    """[(level, text)] for every stage whose statistic crosses a bound."""
    found = []
    for stage, bound in thresholds.items():
        if stage in ALL_LINK_STAGES:      # per publisher: the worst link decides
            value, link = breakdown.worst_link(stage, bound.statistic)
            if link is None:
                continue
            what = f'{stage} from {link.publisher}'
        else:
            s = breakdown.stages.get(stage)
            if s is None or not s.available or not s.count:
                continue
            value, what = getattr(s, bound.statistic), stage
        value_ms = value * 1e3
        for level, limit, label in ((ERROR, bound.error_ms, 'error'),
                                    (WARN, bound.warn_ms, 'warn')):
            if limit is not None and value_ms > limit:
                found.append((level, f'{what} {bound.statistic} {value_ms:.2f} ms > '
                                     f'{label} {limit:g} ms'))
                break
    return found


def topic_status(breakdown, thresholds):
    status = Status(name=status_name(breakdown.subscriber, breakdown.topic),
                    hardware_id=breakdown.host, values=stage_values(breakdown))
    found = crossings(breakdown, thresholds) + root_cause_findings(breakdown)
    if breakdown.stamp_ahead:
        found.append((WARN, f'{breakdown.stamp_ahead} messages stamped later than their '
                            'receipt: the stamping clock is ahead of this one (stamp_age '
                            'leaves them out)'))
    if found:
        status.level = max(level for level, _ in found)
        status.message = '; '.join(text for _, text in sorted(found, reverse=True))
    else:
        status.level = OK
        dominant = breakdown.dominant_stage()
        status.message = (f'ok, dominated by {dominant}' if dominant
                          else f'ok, {breakdown.received} received' if breakdown.received
                          else 'ok, no messages in window')
    if breakdown.dropped and status.level == OK:
        status.message += f'; {breakdown.dropped} dropped'
    outgoing = [(link.dropped, link.publisher) for link in breakdown.links if link.dropped]
    if outgoing and status.level == OK:
        status.message += '; ' + ', '.join(f'{n} dropped in {pub} outgoing queue'
                                           for n, pub in outgoing)
    o = breakdown.overhead
    if o is not None and o.mode != 'full':
        status.message += f'; {o.text} ({o.reason})'
    return status


def object_status(name, host, values, stages, counts, thresholds, ok_text):
    """A timer's or service's status: `values` first, count/mean/p99/max per measured
    stage, then the bounds crossed (`counts`: {name: count} judged as counts)."""
    status = Status(name=name, hardware_id=host, values=list(values))
    for stage, s in stages.items():
        if s.available and s.count:
            status.values += [(f'{stage} {k} (ms)', f'{v * 1e3:.3f}')
                              for k, v in (('mean', s.mean), ('p99', s.p99), ('max', s.max))]
    found = []
    for stage, bound in thresholds.items():
        if stage in counts:
            value, unit, shown = counts[stage], '', str(counts[stage])
        elif stages[stage].available and stages[stage].count:
            value = getattr(stages[stage], bound.statistic) * 1e3
            unit, shown = ' ms', f'{bound.statistic} {value:.2f}'
        else:
            continue
        for level, limit, label in ((ERROR, bound.error_ms, 'error'),
                                    (WARN, bound.warn_ms, 'warn')):
            if limit is not None and value > limit:
                found.append((level, f'{stage} {shown}{unit} > {label} {limit:g}{unit}'))
                break
    if found:
        status.level = max(level for level, _ in found)
        status.message = '; '.join(text for _, text in sorted(found, reverse=True))
    else:
        status.level, status.message = OK, ok_text
    return status


def timer_status(t, thresholds):
    """One timer's status: stages as for topics, missed firings, bounds crossed."""
    values = [('pid', str(t.pid)), ('window (s)', f'{t.window_s:.3f}'),
              ('period (ms)', f'{t.period_s * 1e3:.3f}'), ('clock', t.kind),
              ('fired', str(t.count)), ('missed', str(t.missed))]
    return object_status(f'{PREFIX}: {t.node} timer {t.timer}', t.host, values, t.stages,
                         {'missed': t.missed}, thresholds,
                         f'ok, {t.count} fired, {t.missed} missed' if t.count
                         else 'ok, not fired in window')


def service_status(s, thresholds):
    """One service of a node, as server or client: counts, stages, bounds crossed."""
    what = 'requests' if s.role == 'server' else 'calls'
    values = [('pid', str(s.pid)), ('window (s)', f'{s.window_s:.3f}'), ('role', s.role),
              (what, str(s.count)), ('failed', str(s.failed))]
    if s.role == 'server':
        values.append(('threw', str(s.threw)))
    failed = s.failed + s.threw
    return object_status(f'{PREFIX}: {s.node} service {s.service} ({s.role})', s.host, values,
                         s.stages, {'failed': failed}, thresholds,
                         f'ok, {s.count} {what}, {failed} failed' if s.count
                         else f'ok, no {what} in window')


def tf_status(t, thresholds):
    """One frame pair a node looks up: lookups, waits, failures by kind, bounds crossed."""
    values = [('pid', str(t.pid)), ('window (s)', f'{t.window_s:.3f}'),
              ('target frame', t.target_frame), ('source frame', t.source_frame),
              ('lookups', str(t.lookups)), ('waits', str(t.waits)),
              ('waits timed out', str(t.wait_timeouts)), ('failed', str(t.failed))]
    values += [(f'failed: {kind}', str(n)) for kind, n in t.failures.items()]
    kinds = ', '.join(f'{n} {kind}' for kind, n in t.failures.items() if n)
    return object_status(f'{PREFIX}: {t.node} tf {t.pair}', t.host, values, t.stages,
                         {'failed': t.failed}, thresholds,
                         f'ok, {t.lookups} lookups, {t.failed} failed'
                         + (f' ({kinds})' if kinds else '') if t.lookups or t.waits
                         else 'ok, no lookups in window')


def action_status(a, thresholds):
    """One action of a node, as server (per client) or client: goals, outcomes, stages."""
    failed = a.outcomes.get('aborted', 0) + a.outcomes.get('rejected', 0)
    values = [('pid', str(a.pid)), ('window (s)', f'{a.window_s:.3f}'), ('role', a.role)]
    if a.peer:
        values.append(('client', a.peer))
    values += [('goals', str(a.goals)), ('accepted', str(a.accepted)),
               ('cancel requests', str(a.cancels)), ('active goals', str(a.active))]
    values += [(outcome, str(n)) for outcome, n in a.outcomes.items()]
    results = sum(a.outcomes.values())
    who = f' from {a.peer}' if a.peer else ''
    return object_status(f'{PREFIX}: {a.node} action {a.action} ({a.role}{who})', a.host,
                         values, a.stages, {'failed': failed}, thresholds,
                         f'ok, {a.goals} goals, {results} results ({failed} aborted or '
                         f'rejected), {a.active} active' if a.goals or results or a.active
                         else 'ok, no goals in window')


def worst_hop_text(path):
    """'worst hop /detector processing 88.0 ms' (its largest part), or ''."""
    hop = path.worst_hop
    if hop is None or not hop.latency:
        return ''
    parts = [(s.mean, name) for name, s in hop.stages.items()
             if name != 'end_to_end' and s.available and s.count]
    if not parts:
        return f'worst hop {hop.node} ({hop.topic}) {hop.latency * 1e3:.1f} ms'
    mean, name = max(parts)
    return f'worst hop {hop.node} {name} {mean * 1e3:.1f} ms'


def path_status(path, budget, host, untraced=()):
    """One path's status: end-to-end against its budget, naming the worst hop.
    `untraced`: [(node, why)] on its route that could not be traced."""
    s = path.stages['end_to_end']
    values = [('from', path.source), ('to', path.destination), ('ends in', path.node or '-'),
              ('window (s)', f'{path.window_s:.3f}'), ('messages', str(path.count))]
    if s.available and s.count:
        values += [(f'end_to_end {k} (ms)', f'{v * 1e3:.3f}')
                   for k, v in (('mean', s.mean), ('p99', s.p99), ('max', s.max))]
    for i, hop in enumerate(path.hops, 1):
        values.append((f'hop {i}: {hop.topic} -> {hop.node} (ms)', f'{hop.latency * 1e3:.3f}'))
    values += [(f'not traced: {node}', why) for node, why in untraced]
    status = Status(name=f'{PREFIX}: path {path.name}', hardware_id=host, values=values)
    worst = worst_hop_text(path)
    if not (s.available and s.count):
        status.level = WARN if untraced else OK
        status.message = (f'no message followed from {path.source} to {path.destination} '
                          'in the window' + ('; some nodes on the route are not traced'
                                             if untraced else ''))
        return status
    if budget is not None:
        value = getattr(s, budget.statistic) * 1e3
        for level, limit, label in ((ERROR, budget.error_ms, 'error'),
                                    (WARN, budget.warn_ms, 'warn')):
            if limit is not None and value > limit:
                status.level = level
                status.message = (f'path {path.name}: {budget.statistic} {value:.1f} ms > '
                                  f'{label} {limit:g} ms' + (f'; {worst}' if worst else ''))
                return status
    status.level = OK
    status.message = (f'ok, {path.count} messages, end-to-end mean {s.mean * 1e3:.1f} ms, '
                      f'p99 {s.p99 * 1e3:.1f} ms' + (f'; {worst}' if worst else ''))
    return status


def not_running_status(node, host, reason='not running'):
    return Status(name=status_name(node), hardware_id=host, level=ERROR, message=reason)


def monitor_status_name(host):
    """One monitor per host: its status carries the host, so that two monitors on one
    master never collide."""
    return f'{PREFIX}: monitor {host}'


def start_failed_status(host, message):
    """The monitor's status when it cannot start (it exits right after)."""
    return Status(name=monitor_status_name(host), hardware_id=host, level=ERROR,
                  message=f'cannot start: {message}'[:500])


LOST_LABELS = {'events': 'lost transport events',
               'stats': 'lost samples (stats map full)',
               'hist': 'lost histogram samples (hist map full)',
               'spans': 'lost capture spans (ring buffer full)'}
LOST_FIX = {'events': 'ring buffer full: raise publish_rate so it is read more often',
            'stats': 'trace fewer nodes or topics per monitor',
            'hist': 'trace fewer nodes or topics per monitor',
            'spans': 'capture fewer nodes, or for less time'}


def monitor_status(*, host, attached, configured, probe_cost_us, errors, stopped=False,
                   publishers=(), lost=None, lost_recent=None, peers=None, peer_refused=0,
                   pacing=None):
    """The monitor's own status: what it traces, what it costs, what went wrong.
    lost / lost_recent: {'events'|'stats'|'hist': count} the kernel could not record
    since start / in the last window (a WARN: numbers are missing); peers: the other
    monitors' hosts and their clocks' offsets (None until known); pacing: (period s,
    configured period s, the monitor's CPU %, its limit %) -- a WARN while the limit
    makes it publish less often than configured."""
    lost, lost_recent = lost or {}, lost_recent or {}
    status = Status(name=monitor_status_name(host), hardware_id=host)
    status.values = [('targets attached', str(len(attached))),
                     ('targets configured', str(configured)),
                     ('attached', ' '.join(f'{n} ({p})' for n, p in sorted(attached))),
                     ('publishers traced', ' '.join(f'{n} ({p})' for n, p in sorted(publishers))),
                     ('probe cost per entry+return (us)', f'{probe_cost_us:.2f}'),
                     *[(label, str(lost.get(kind, 0))) for kind, label in LOST_LABELS.items()],
                     ('errors', str(len(errors)))]
    for peer, offset in sorted((peers or {}).items()):
        status.values.append((f'clock offset of {peer} (ms)', 'not known yet' if offset is None
                              else f'{offset.offset_ns / 1e6:.3f} +- '
                                   f'{offset.uncertainty_ns / 1e6:.3f}'))
    if peer_refused:
        status.values.append(('messages of other monitors refused', str(peer_refused)))
    problems = list(errors) + [f'{n} {LOST_LABELS[kind]} in the last window ({LOST_FIX[kind]})'
                               for kind, n in sorted(lost_recent.items()) if n]
    if pacing is not None:
        period, configured_period, cpu, limit = pacing
        status.values += [('publishing period (s)', f'{period:.2f}'),
                          ('monitor CPU (% of a core)', f'{cpu:.1f}'),
                          ('monitor CPU limit (% of a core)', f'{limit:g}' if limit else 'none')]
        if period > configured_period * 1.01:
            problems.append(f'publishing every {period:.2f} s, not every {configured_period:g} s:'
                            f' at that rate the monitor would use more than {limit:g} % of a '
                            f'core (trace fewer topics, or raise monitor_cpu_percent)')
    if stopped:
        status.level, status.message = WARN, 'monitor stopped: probes removed'
    elif problems:
        status.level, status.message = WARN, '; '.join(problems)
    else:
        status.level, status.message = OK, f'tracing {len(attached)} node(s)'
    return status
