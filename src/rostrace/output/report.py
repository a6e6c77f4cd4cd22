"""Recorded LatencyBreakdown messages -> per-topic series, worst windows, summary,
and a self-contained HTML report with embedded PNG plots."""
import base64
import html
import io
import os
from dataclasses import dataclass, field

from ..errors import RostraceError
from ..views.render import human

DATATYPE = 'rostrace/LatencyBreakdown'
PARTS = ('queuing', 'deserialization', 'processing')
# Per publisher link: transport's parts, and the splits that say the subscriber starved.
TRANSPORT_PARTS = ('serialization', 'publish_queue', 'network', 'socket_wait')
LINK_FIELDS = TRANSPORT_PARTS + ('transport', 'end_to_end', 'network_starved',
                                 'socket_wait_starved')


@dataclass
class Window:
    stamp: float
    window_s: float
    received: int
    processed: int
    dropped: int
    stages: dict                      # stage -> {'count', 'mean', 'p99', 'max', ...}
    links: dict = field(default_factory=dict)   # publisher -> {LINK_FIELDS stage: dict}

    def dominant(self):
        parts = [(self.stages[s]['mean'], s) for s in PARTS
                 if self.stages[s]['available'] and self.stages[s]['count']]
        return max(parts)[1] if parts else None


@dataclass
class Series:
    node: str
    topic: str
    windows: list = field(default_factory=list)

    @property
    def key(self):
        return f'{self.node} {self.topic}'

    def weighted_mean(self, stage):
        n = sum(w.stages[stage]['count'] for w in self.windows)
        return (sum(w.stages[stage]['mean'] * w.stages[stage]['count'] for w in self.windows)
                / n if n else 0.0)

    def dominant(self):
        means = [(self.weighted_mean(s), s) for s in PARTS]
        best = max(means)
        return best[1] if best[0] > 0 else None

    def link_totals(self):
        """{publisher: {stage: (count, sum of values in s)}} over every window."""
        out = {}
        for w in self.windows:
            for publisher, stages in w.links.items():
                mine = out.setdefault(publisher, {})
                for stage, st in stages.items():
                    n, total = mine.get(stage, (0, 0.0))
                    mine[stage] = (n + st['count'], total + st['mean'] * st['count'])
        return out

    def worst(self, n=10):
        return sorted(self.windows, key=lambda w: w.stages['total']['p99'], reverse=True)[:n]


def _stage_dict(s):
    return {'available': s.available, 'count': s.count, 'mean': s.mean, 'min': s.min,
            'max': s.max, 'p50': s.p50, 'p90': s.p90, 'p99': s.p99}


def _links(m):
    """A message's publisher links (bags of older rostrace versions: fewer fields)."""
    return {p.publisher: {st: _stage_dict(getattr(p, st)) for st in LINK_FIELDS
                          if hasattr(p, st)}
            for p in getattr(m, 'publishers', []) if not p.intra_process}


def link_summary(publisher, totals):
    """One line: a link's mean transport, its parts, and the subscriber's starved share."""
    def mean(stage):
        n, total = totals.get(stage, (0, 0.0))
        return total / n if n else 0.0
    n, transport = totals.get('transport', (0, 0.0))
    if not n:
        return f'  from {publisher}: no transport measured'
    parts = ' + '.join(f'{st} {human(mean(st))}' for st in TRANSPORT_PARTS if st in totals)
    starved = sum(totals.get(st, (0, 0.0))[1] for st in ('network_starved',
                                                         'socket_wait_starved'))
    return (f'  from {publisher}: transport {human(transport / n)} = {parts}; subscriber '
            f'waiting for CPU {starved / transport * 100 if transport else 0:.0f} %')


def load_bags(paths, objects=None):
    """{(node, topic): Series} from every LatencyBreakdown in the bags, by stamp; the
    timers' and services' windows into `objects` when given (objects_report.py)."""
    import rosbag        # only the report verb needs it (and a sourced ROS)
    from .objects_report import load_objects
    series = {}
    for path in paths:
        if not os.path.isfile(path):
            raise RostraceError(f'{path}: no such bag file')
        try:
            bag = rosbag.Bag(path)
        except rosbag.ROSBagUnindexedException:
            raise RostraceError(f'{path}: the bag is not indexed (truncated, or still being '
                                'recorded)', hint=f'repair it with: rosbag reindex {path}')
        except (rosbag.ROSBagException, OSError, ValueError) as e:
            raise RostraceError(f'{path}: not a readable bag ({e})')
        with bag:
            topics = [t for t, info in bag.get_type_and_topic_info().topics.items()
                      if info.msg_type == DATATYPE]
            if not topics:
                raise RostraceError(f'{path}: no {DATATYPE} messages in this bag',
                                    hint='record them with: rosbag record /rostrace/latency '
                                    '(while rostrace_monitor runs)')
            try:
                for _, m, _ in bag.read_messages(topics=topics):
                    node = getattr(m, 'nodelet', '') or m.node     # older bags: no nodelet
                    s = series.setdefault((node, m.topic), Series(node, m.topic))
                    s.windows.append(Window(
                        stamp=m.header.stamp.to_sec(), window_s=m.window, received=m.received,
                        processed=m.processed, dropped=m.dropped,
                        stages={st: _stage_dict(getattr(m, st))
                                for st in ('queuing', 'deserialization', 'processing',
                                           'total')},
                        links=_links(m)))
                if objects is not None:
                    for key, windows in load_objects(bag).items():
                        objects.setdefault(key, []).extend(windows)
            except (rosbag.ROSBagException, OSError) as e:
                raise RostraceError(f'{path}: the bag is damaged ({e})',
                                    hint=f'try: rosbag reindex {path}')
    for s in series.values():
        s.windows.sort(key=lambda w: w.stamp)
    return series


def text_summary(series):
    lines = []
    for s in sorted(series.values(), key=lambda s: s.key):
        received = sum(w.received for w in s.windows)
        dropped = sum(w.dropped for w in s.windows)
        worst = s.worst(1)
        worst_p99 = human(worst[0].stages['total']['p99']) if worst else '-'
        parts = ', '.join(f'{st} {human(s.weighted_mean(st))}' for st in PARTS)
        lines.append(f'{s.key}: {len(s.windows)} windows, {received} received, {dropped} '
                     f'dropped; dominant stage: {s.dominant() or "none"} ({parts}); '
                     f'worst total p99 {worst_p99}')
        lines += [link_summary(publisher, totals)
                  for publisher, totals in sorted(s.link_totals().items())]
    return lines


def _png(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=80, bbox_inches='tight')
    return base64.b64encode(buf.getvalue()).decode('ascii')


def plot_series(s):
    """One PNG (base64): stacked stage means, total p99/max, drops, over time."""
    import matplotlib    # slow to import; only reports plot
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    t0 = s.windows[0].stamp
    t = [w.stamp - t0 for w in s.windows]
    fig, axes = plt.subplots(3, 1, figsize=(9, 7), sharex=True)
    ms = 1e3
    axes[0].stackplot(t, *[[w.stages[st]['mean'] * ms for w in s.windows] for st in PARTS],
                      labels=PARTS)
    axes[0].set_ylabel('mean (ms)')
    axes[0].legend(loc='upper right', fontsize=8)
    axes[0].set_title(s.key)
    axes[1].plot(t, [w.stages['total']['p99'] * ms for w in s.windows], label='total p99')
    axes[1].plot(t, [w.stages['total']['max'] * ms for w in s.windows], label='total max')
    axes[1].set_ylabel('ms')
    axes[1].legend(loc='upper right', fontsize=8)
    axes[2].bar(t, [w.dropped for w in s.windows], width=0.8 * min(w.window_s for w in s.windows))
    axes[2].set_ylabel('dropped')
    axes[2].set_ylim(bottom=0)
    axes[2].set_xlabel('seconds since the first window')
    data = _png(fig)
    plt.close(fig)
    return data


def graph_html(series):
    """The dataflow graph of the recorded links: drawn when Graphviz is installed,
    always as text."""
    from ..model.graph import dot, from_series, text
    from .graphviz import svg
    graph = from_series(series)
    if not graph.edges:
        return []
    parts = ['<h2>Dataflow graph</h2>']
    image = svg(dot(graph))
    if image is not None:
        parts.append(image[image.find('<svg'):])
    parts.append('<pre>' + html.escape('\n'.join(text(graph))) + '</pre>')
    return parts


def html_report(series, *, sources, objects=None):
    esc = html.escape
    parts = ['<!DOCTYPE html><html><head><meta charset="utf-8"><title>rostrace report</title>',
             '<style>body{font-family:sans-serif;margin:2em} table{border-collapse:collapse}'
             ' td,th{border:1px solid #bbb;padding:2px 8px;text-align:right}'
             ' th{background:#eee}</style></head><body>',
             '<h1>rostrace latency report</h1>',
             f'<p>Bags: {esc(", ".join(sources))}</p><pre>',
             esc('\n'.join(text_summary(series))), '</pre>']
    for s in sorted(series.values(), key=lambda s: s.key):
        parts.append(f'<h2 class="topic">{esc(s.key)}</h2>')
        parts.append(f'<img alt="{esc(s.key)}" src="data:image/png;base64,{plot_series(s)}">')
        parts.append('<h3>Worst windows (by total p99)</h3><table><tr><th>t (s)</th>'
                     '<th>received</th><th>dropped</th><th>total p99</th><th>total max</th>'
                     '<th>dominant stage</th></tr>')
        t0 = s.windows[0].stamp
        for w in s.worst():
            parts.append(f'<tr><td>{w.stamp - t0:.1f}</td><td>{w.received}</td>'
                         f'<td>{w.dropped}</td><td>{human(w.stages["total"]["p99"])}</td>'
                         f'<td>{human(w.stages["total"]["max"])}</td>'
                         f'<td>{esc(w.dominant() or "-")}</td></tr>')
        parts.append('</table>')
    parts += graph_html(series)
    if objects:
        from .objects_report import objects_html
        parts += objects_html(objects)
    parts.append('</body></html>')
    return '\n'.join(parts)
