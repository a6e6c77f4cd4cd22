"""Recorded TimerBreakdown / ServiceBreakdown / TfBreakdown / ActionBreakdown messages ->
per timer, service, tf2 frame pair and action series, a text summary and plots for the HTML report
(output/report.py has topics)."""
import html

from ..views.render import human
from .report import _png

TIMER_TYPE, SERVICE_TYPE = 'rostrace/TimerBreakdown', 'rostrace/ServiceBreakdown'
TF_TYPE, ACTION_TYPE = 'rostrace/TfBreakdown', 'rostrace/ActionBreakdown'
TYPES = (TIMER_TYPE, SERVICE_TYPE, TF_TYPE, ACTION_TYPE)
# What is plotted and summarised per kind: (stage, statistic) pairs.
TIMER_STAGES = ('lateness', 'queuing', 'duration', 'tf_wait')
TF_STAGES = ('lookup', 'wait')
ACTION_STAGES = ('accept', 'first_feedback', 'feedback_interval', 'result')
SERVICE_STAGES = {'server': ('queuing', 'handling'), 'client': ('round_trip', 'connect')}


def load_objects(bag):
    """{('timer', node, name) | ('service', node, name, role) | ('tf', node, target,
    source): [window dict]} of an open rosbag.Bag, by stamp."""
    info = bag.get_type_and_topic_info().topics
    topics = [t for t, i in info.items() if i.msg_type in TYPES]
    out = {}
    for _, m, _ in bag.read_messages(topics=topics) if topics else ():
        if hasattr(m, 'timer'):
            key, stages = ('timer', m.node, m.timer), TIMER_STAGES
            counts = {'count': m.count, 'missed': m.missed}
        elif hasattr(m, 'action'):
            key, stages = ('action', m.node, m.action, m.role, m.peer), ACTION_STAGES
            counts = {'count': m.count, 'failed': m.aborted + m.rejected}
        elif hasattr(m, 'target_frame'):
            key, stages = ('tf', m.node, m.target_frame, m.source_frame), TF_STAGES
            counts = {'count': m.count, 'failed': m.failed}
        else:
            key, stages = ('service', m.node, m.service, m.role), SERVICE_STAGES.get(m.role, ())
            counts = {'count': m.count, 'failed': m.failed + m.threw}
        out.setdefault(key, []).append(
            {'stamp': m.header.stamp.to_sec(), **counts,
             **{f'{st} {stat}': getattr(getattr(m, st), stat) for st in stages
                if hasattr(m, st)       # older bags: fewer stages
                for stat in ('mean', 'p99') if getattr(m, st).count}})
    for windows in out.values():
        windows.sort(key=lambda w: w['stamp'])
    return out


def title(key):
    if key[0] == 'tf':
        return f'{key[1]} tf {key[2]}\u2192{key[3]}'
    if key[0] == 'action':
        return f'{key[1]} action {key[2]} ({key[3]}' + (f' from {key[4]})' if key[4] else ')')
    return (f'{key[1]} timer {key[2]}' if key[0] == 'timer'
            else f'{key[1]} service {key[2]} ({key[3]})')


def objects_summary(objects):
    lines = []
    for key, windows in sorted(objects.items()):
        counts = ', '.join(f'{sum(w[c] for w in windows)} {c}'
                           for c in ('count', 'missed', 'failed') if c in windows[0])
        worst = {k: max(w.get(k, 0.0) for w in windows) for w in windows for k in w
                 if k.endswith(' p99')}
        lines.append(f'{title(key)}: {len(windows)} windows, {counts}; worst '
                     + (', '.join(f'{k} {human(v)}' for k, v in sorted(worst.items())) or '-'))
    return lines


def plot_object(key, windows):
    """One PNG (base64): every stage's mean and p99 over time, counts below."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    t0 = windows[0]['stamp']
    t = [w['stamp'] - t0 for w in windows]
    fig, axes = plt.subplots(2, 1, figsize=(9, 5), sharex=True)
    names = sorted({k for w in windows for k in w if k.endswith((' mean', ' p99'))})
    for name in names:
        axes[0].plot(t, [w.get(name, float('nan')) * 1e3 for w in windows], label=name)
    axes[0].set_ylabel('ms')
    axes[0].set_title(title(key))
    if names:
        axes[0].legend(loc='upper right', fontsize=8)
    for c in ('count', 'missed', 'failed'):
        if c in windows[0]:
            axes[1].plot(t, [w[c] for w in windows], label=c)
    axes[1].set_ylabel('per window')
    axes[1].set_xlabel('seconds since the first window')
    axes[1].legend(loc='upper right', fontsize=8)
    data = _png(fig)
    plt.close(fig)
    return data


def objects_html(objects):
    parts = []
    for key, windows in sorted(objects.items()):
        name = html.escape(title(key))
        parts.append(f'<h2 class="{key[0]}">{name}</h2>')
        parts.append(f'<img alt="{name}" src="data:image/png;base64,'
                     f'{plot_object(key, windows)}">')
    return parts
