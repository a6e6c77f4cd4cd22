"""Breakdowns as lines of text for a terminal (under 100 columns). [pure]"""
from ..model.breakdown import LINK_SPLITS, SPLITS
from ..model.histogram import bucket_bounds


def human(seconds):
    """A duration in the unit that suits it: 850ns, 12.3us, 4.56ms, 1.20s."""
    if seconds < 1e-6:
        return f'{seconds * 1e9:.0f}ns'
    if seconds < 1e-3:
        return f'{seconds * 1e6:.1f}us'
    if seconds < 1.0:
        return f'{seconds * 1e3:.2f}ms'
    return f'{seconds:.2f}s'


def _cell(stage):
    if not stage.available:
        return 'n/a'
    if not stage.count:
        return '-'
    return f'{human(stage.mean)}/{human(stage.p99)}'


HEADER = (f'{"node":<22} {"topic":<18} {"rate":>6} {"drop":>5}  '
          f'{"queuing":>15} {"deser":>15} {"processing":>15}')


def table(breakdowns):
    """One row per topic: mean/p99 per stage; '*' marks the dominant stage."""
    lines = [HEADER, '-' * len(HEADER)]
    for b in breakdowns:
        dominant = b.dominant_stage()
        cells = []
        for name in ('queuing', 'deserialization', 'processing'):
            text = _cell(b.stages[name]) + ('*' if name == dominant else ' ')
            cells.append(f'{text:>15}')
        rate = b.received / b.window_s if b.window_s else 0.0
        lines.append(f'{b.subscriber[-22:]:<22} {b.topic[-18:]:<18} {rate:>6.1f} {b.dropped:>5}  '
                     + ' '.join(cells))
    return lines


def link_table(breakdowns):
    """One row per (topic, publisher): where messages spent their time before the
    subscriber's queue, mean/p99."""
    lines = []
    for b in breakdowns:
        for link in b.links:
            if link.intra_process:
                lines.append(f'  {b.topic[-22:]:<22} <- {link.publisher[-22:]:<22} '
                             f'intra-process, end-to-end {_cell(link.stages["end_to_end"])}')
                continue
            lines.append(f'  {b.topic[-22:]:<22} <- {link.publisher[-22:]:<22} '
                         f'serialize {_cell(link.stages["serialization"])}, out queue '
                         f'{_cell(link.stages["publish_queue"])} ({link.dropped} dropped), '
                         f'transport {_cell(link.stages["transport"])} (network '
                         f'{_cell(link.stages["network"])}, socket wait '
                         f'{_cell(link.stages["socket_wait"])}), end-to-end '
                         f'{_cell(link.stages["end_to_end"])}')
    return lines


BOLD, RESET = '\033[1m', '\033[0m'
STAGE_LABELS = {'queuing': 'queuing', 'deserialization': 'deserialize',
                'processing': 'processing', 'total': 'total'}


def topic_block(b, *, color=False, title=None):
    """A topic's window: rate and counts, then mean/p50/p99/max per stage.

    The dominant stage is marked '*' (and bold with color=True)."""
    rate = b.received / b.window_s if b.window_s else 0.0
    where = f' (nodelet {b.nodelet})' if b.nodelet else ''
    if b.client == 'rospy':
        where += ' (rospy: queuing = wait in the socket, processing = deserialization + callbacks)'
    lines = [title or f'{b.topic}{where}  {rate:.1f} msg/s  received {b.received}  '
             f'processed {b.processed}  dropped {b.dropped}'
             + (f'  threw {b.exceptions}' if b.exceptions else ''),
             f'  {"stage":<13}{"count":>7}{"mean":>10}{"p50":>10}{"p99":>10}{"max":>10}']
    dominant = b.dominant_stage()
    for name, label in STAGE_LABELS.items():
        s = b.stages[name]
        mark = '*' if name == dominant else ' '
        if not s.available:
            row = f'{mark} {label:<13}  unavailable: {s.reason}'[:79]
        elif not s.count:
            row = f'{mark} {label:<13}{0:>7}{"-":>10}{"-":>10}{"-":>10}{"-":>10}'
        else:
            row = (f'{mark} {label:<13}{s.count:>7}{human(s.mean):>10}{human(s.p50):>10}'
                   f'{human(s.p99):>10}{human(s.max):>10}')
        lines.append(BOLD + row + RESET if color and mark == '*' else row)
    return lines + tf_wait_lines(b) + root_cause_lines(b) + link_lines(b) + overhead_lines(b)


def tf_wait_lines(b):
    """The callbacks' waits for transforms (part of processing), when there were any."""
    s = b.stages.get('processing_tf_wait')
    if s is None or not s.available or not s.count:
        return []
    frames = f' for {b.tf_wait_frames[0]}\u2192{b.tf_wait_frames[1]}' if b.tf_wait_frames else ''
    share = b.tf_wait_share()
    return [f'  of which TF wait{frames}: {s.count} waits, mean {human(s.mean)}, max '
            f'{human(s.max)}' + (f' ({share * 100:.0f} % of processing)' if share else '')]


def overhead_lines(b):
    """The overhead budget's state, for a target given one."""
    o = b.overhead
    if o is None:
        return []
    return [f'  probes: {o.text}; estimated {o.estimate_percent:.2f} % of a core, '
            f'budget {o.budget_percent:g} %'[:79], f'    ({o.reason})'[:79]]


LINK_LABELS = {'serialization': 'serialize', 'publish_queue': 'out queue',
               'network': 'network', 'socket_wait': 'socket wait',
               'transport': 'transport', 'end_to_end': 'end-to-end'}
LINK_SPLIT_LABELS = {'publish_queue': ('out queue', "sender's"),
                     'network': ('network', "our poll"),
                     'socket_wait': ('socket wait', "our poll")}


def link_lines(b):
    """One block per publisher: where its messages spent their time before ours."""
    lines = []
    for link in b.links:
        where = 'intra-process' if link.intra_process else f'pid {link.pid}'
        if link.publisher_host:
            where = (f'on {link.publisher_host}, clock offset {link.clock_offset * 1e3:.3f} '
                     f'+- {link.clock_uncertainty * 1e3:.3f} ms')
        lines.append(f'  from {link.publisher} ({where}): {link.messages} messages, '
                     f'{link.dropped} dropped in its outgoing queue')
        for name, label in LINK_LABELS.items():
            s = link.stages[name]
            if not s.available:
                row = f'    {label:<11}  {s.reason}'
            elif not s.count:
                continue
            else:
                row = (f'    {label:<11}{s.count:>7}{human(s.mean):>10}{human(s.p50):>10}'
                       f'{human(s.p99):>10}{human(s.max):>10}')
            lines.append(row[:100])
        lines += link_split_lines(link)
    if b.transport_note:
        lines.append(f'  note: {b.transport_note}'[:160])
    return lines


def link_split_lines(link):
    """What the sending / reading thread did while the message waited."""
    lines = []
    for parent, splits in LINK_SPLITS.items():
        if not any(link.stages.get(s) and link.stages[s].count for s in splits):
            continue
        label, whose = LINK_SPLIT_LABELS[parent]
        shares = sorted(((link.share(s), s) for s in splits), reverse=True)
        text = ', '.join(f'{share * 100:.0f} % {SPLIT_LABELS[s]}' for share, s in shares)
        lines.append(f'    {label + ":":<13}{whose} thread {text}'[:100])
    return lines


SPLIT_LABELS = {'queuing_busy': 'busy (other callbacks)', 'queuing_starved': 'starved',
                'queuing_idle': 'idle', 'processing_oncpu': 'on-CPU',
                'processing_runqueue': 'runqueue', 'processing_blocked': 'blocked',
                'publish_queue_busy': 'busy', 'publish_queue_starved': 'starved',
                'publish_queue_idle': 'idle', 'socket_wait_busy': 'busy',
                'socket_wait_starved': 'starved', 'socket_wait_idle': 'idle',
                'network_busy': 'busy', 'network_starved': 'starved', 'network_idle': 'idle'}


def root_cause_lines(b):
    """What the scheduler did meanwhile, the per-callback counts and the audit."""
    lines = []
    for parent, splits in SPLITS.items():
        if not any(s in b.stages and b.stages[s].count for s in splits):
            continue
        shares = sorted(((b.share(s), s) for s in splits), reverse=True)
        text = ', '.join(f'{share * 100:.0f} % {SPLIT_LABELS[s]}' for share, s in shares)
        lines.append(f'  {parent + ":":<12}{text}')
    pc = b.per_callback
    if b.processed and pc:
        def value(name, digits):
            return f'{pc[name]:.{digits}f}' if name in pc else 'n/a'
        lines.append(f'  per callback: {value("voluntary_switches", 2)} voluntary + '
                     f'{value("involuntary_switches", 2)} involuntary switches, '
                     f'{value("page_faults", 1)} page faults')
    if b.audit is not None:
        calls = ('n/a' if b.audit.get('syscalls_unavailable') else
                 ', '.join(f'{n} {c}' for n, c in b.audit['syscalls'].items()) or 'none')
        lines.append(f'  audit: {b.audit["allocations"]} allocations; syscalls: {calls}'[:100])
    return lines


def histogram(buckets, *, width=40):
    """bcc-style text histogram of a {log-linear bucket: count} map, by powers of two."""
    if not buckets:
        return ['  (no samples)']
    by_power = {}
    for bucket, count in buckets.items():
        low = bucket_bounds(bucket)[0]
        power = max(low, 1).bit_length() - 1
        by_power[power] = by_power.get(power, 0) + count
    peak = max(by_power.values())
    lines = [f'  {"range":>23} : {"count":<7} distribution']
    for power in range(min(by_power), max(by_power) + 1):
        count = by_power.get(power, 0)
        low, high = (0 if power == 0 else 1 << power), 1 << (power + 1)
        bar = '*' * (round(count * width / peak) if count else 0)
        span = f'{human(low * 1e-9)} -> {human(high * 1e-9)}'
        lines.append(f'  {span:>23} : {count:<7} |{bar:<{width}}|')
    return lines


TIMER_LABELS = {'lateness': 'late', 'queuing': 'queued', 'duration': 'callback',
                'tf_wait': 'TF wait'}


def timer_lines(timers):
    """One block per timer: firings, missed periods, then mean/p50/p99/max per stage."""
    lines = ['timers']
    for t in timers:
        rate = t.count / t.window_s if t.window_s else 0.0
        lines.append(f'  {t.timer[:60]}  every {human(t.period_s)} ({t.kind}), '
                     f'{t.count} fired ({rate:.1f}/s), {t.missed} missed'[:100])
        for name, label in TIMER_LABELS.items():
            s = t.stages[name]
            if s.available and s.count and (name != 'tf_wait' or s.max):
                lines.append(f'    {label:<11}{s.count:>7}{human(s.mean):>10}{human(s.p50):>10}'
                             f'{human(s.p99):>10}{human(s.max):>10}')
    return lines


SERVICE_LABELS = {'queuing': 'queued', 'handling': 'handling', 'round_trip': 'round trip',
                  'connect': 'connect'}


def service_lines(services):
    """One block per service and role: requests or calls, failures, then the stages."""
    lines = ['services']
    for s in services:
        what = 'requests' if s.role == 'server' else 'calls'
        threw = f', {s.threw} threw' if s.role == 'server' else ''
        lines.append(f'  {s.service[:60]} ({s.role}): {s.count} {what}, {s.failed} failed'
                     f'{threw}'[:100])
        for name, label in SERVICE_LABELS.items():
            st = s.stages[name]
            if st.available and st.count:
                lines.append(f'    {label:<11}{st.count:>7}{human(st.mean):>10}'
                             f'{human(st.p50):>10}{human(st.p99):>10}{human(st.max):>10}')
    return lines


TF_LABELS = {'lookup': 'lookup', 'wait': 'wait'}


def tf_lines(pairs):
    """One block per frame pair: lookups, waits, failures by kind, then the stages."""
    lines = ['tf2 lookups (target\u2192source)']
    for t in pairs:
        kinds = ', '.join(f'{n} {kind}' for kind, n in t.failures.items() if n)
        lines.append(f'  {t.pair[:60]}: {t.lookups} lookups, {t.waits} waits '
                     f'({t.wait_timeouts} timed out), {t.failed} failed'
                     + (f' ({kinds})' if kinds else '')[:100])
        for name, label in TF_LABELS.items():
            st = t.stages[name]
            if st.available and st.count:
                lines.append(f'    {label:<11}{st.count:>7}{human(st.mean):>10}'
                             f'{human(st.p50):>10}{human(st.p99):>10}{human(st.max):>10}')
    return lines


ACTION_LABELS = {'accept': 'accept', 'first_feedback': '1st feedbk',
                 'feedback_interval': 'feedbk gap', 'result': 'result'}


def action_lines(actions):
    """One block per action and role (and client): goals, outcomes, then the stages."""
    lines = ['actions (goal -> ...)']
    for a in actions:
        who = f' from {a.peer}' if a.peer else ''
        outcomes = ', '.join(f'{n} {k}' for k, n in a.outcomes.items() if n) or 'no results'
        lines.append(f'  {a.action[:50]} ({a.role}{who}): {a.goals} goals, {outcomes}, '
                     f'{a.cancels} cancels, {a.active} active'[:100])
        for name, label in ACTION_LABELS.items():
            st = a.stages[name]
            if st.available and st.count:
                lines.append(f'    {label:<11}{st.count:>7}{human(st.mean):>10}'
                             f'{human(st.p50):>10}{human(st.p99):>10}{human(st.max):>10}')
    return lines
