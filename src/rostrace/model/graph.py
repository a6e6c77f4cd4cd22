"""The dataflow graph rostrace inferred: nodes -> topics -> nodes, per edge its latency,
and inside a node which input's callbacks published which output. [pure]

From a live Window (links matched by the kernel or user space, causes from
probes/bpf/paths.c) or from recorded LatencyBreakdowns (links only). Text for people,
DOT for Graphviz (output/graphviz.py draws it).
"""
from dataclasses import dataclass


@dataclass
class Edge:
    publisher: str
    topic: str
    subscriber: str
    messages: int
    rate: float                 # messages per second that reached the subscriber's callback
    transport: float = None     # mean seconds, None when not measured
    end_to_end: float = None    # publisher's hand-off -> end of the subscriber's callback

    def as_dict(self):
        return {'publisher': self.publisher, 'topic': self.topic,
                'subscriber': self.subscriber, 'messages': self.messages, 'rate': self.rate,
                'transport': self.transport, 'end_to_end': self.end_to_end}


@dataclass
class Cause:
    node: str
    input: str
    output: str
    sampled: bool               # published outside the input's callbacks (a timer, a loop)
    age: float = None           # sampled: mean seconds since that input's callback ended

    def as_dict(self):
        return {'node': self.node, 'input': self.input, 'output': self.output,
                'sampled': self.sampled, 'age': self.age}


@dataclass
class Graph:
    edges: list
    causes: list

    def as_dict(self):
        return {'edges': [e.as_dict() for e in self.edges],
                'causes': [c.as_dict() for c in self.causes]}


def _mean(acc):
    return acc.sum_ns / acc.count * 1e-9 if acc is not None and acc.count else None


def from_window(window, node_name):
    """Graph of one Window; `node_name(pid)` names processes."""
    edges = []
    for key, numbers in window.topics.items():
        for link_key, link in numbers.links.items():
            if not link.messages:
                continue
            edges.append(Edge(node_name(link_key.publisher_pid), key.topic,
                              key.nodelet or node_name(key.pid), link.messages,
                              link.messages / window.window_s if window.window_s else 0.0,
                              _mean(link.stages.get('transport')),
                              _mean(link.stages.get('end_to_end'))))
    causes = [Cause(node_name(c.pid), c.input, c.output, c.sampled,
                    _mean(window.sampling.get((c.pid, c.output))) if c.sampled else None)
              for c in window.causes]
    return Graph(sorted(edges, key=lambda e: (e.topic, e.publisher, e.subscriber)),
                 sorted(causes, key=lambda c: (c.node, c.input, c.output)))


def from_series(series):
    """Graph of recorded breakdowns (report.Series by (node, topic)): links only."""
    edges = []
    for s in series.values():
        elapsed = sum(w.window_s for w in s.windows)
        for publisher, totals in s.link_totals().items():
            def mean(stage):
                n, total = totals.get(stage, (0, 0.0))
                return total / n if n else None
            n = totals.get('end_to_end', (0, 0.0))[0]
            edges.append(Edge(publisher, s.topic, s.node, n,
                              n / elapsed if elapsed else 0.0,
                              mean('transport'), mean('end_to_end')))
    return Graph(sorted(edges, key=lambda e: (e.topic, e.publisher, e.subscriber)), [])


def _ms(seconds):
    return '-' if seconds is None else f'{seconds * 1e3:.2f} ms'


def text(graph):
    """Lines: one per edge, then per node what its callbacks publish."""
    lines = []
    for e in graph.edges:
        lines.append(f'{e.publisher} --{e.topic}--> {e.subscriber}: {e.rate:.1f} msg/s, '
                     f'transport {_ms(e.transport)}, end-to-end {_ms(e.end_to_end)}')
    for c in graph.causes:
        how = (f'sampled (age {_ms(c.age)})' if c.sampled else 'in its callbacks')
        lines.append(f'{c.node}: {c.input} -> {c.output} {how}')
    return lines or ['(no message seen yet)']


def _quote(name):
    return '"' + name.replace('\\', '\\\\').replace('"', '\\"') + '"'


def dot(graph):
    """Graphviz DOT text: processes as boxes, topics as ellipses."""
    lines = ['digraph rostrace {', '  rankdir=LR;', '  node [fontsize=10];']
    nodes = sorted({e.publisher for e in graph.edges} | {e.subscriber for e in graph.edges}
                   | {c.node for c in graph.causes})
    topics = sorted({e.topic for e in graph.edges} | {c.output for c in graph.causes})
    lines += [f'  {_quote("n:" + n)} [label={_quote(n)}, shape=box];' for n in nodes]
    lines += [f'  {_quote("t:" + t)} [label={_quote(t)}, shape=ellipse];' for t in topics]
    published = set()
    for e in graph.edges:
        if (e.publisher, e.topic) not in published:
            published.add((e.publisher, e.topic))
            lines.append(f'  {_quote("n:" + e.publisher)} -> {_quote("t:" + e.topic)};')
        lines.append(f'  {_quote("t:" + e.topic)} -> {_quote("n:" + e.subscriber)} '
                     f'[label={_quote(f"{e.rate:.1f}/s, e2e {_ms(e.end_to_end)}")}];')
    for c in graph.causes:
        if (c.node, c.output) not in published:
            published.add((c.node, c.output))
            lines.append(f'  {_quote("n:" + c.node)} -> {_quote("t:" + c.output)}'
                         + (' [style=dashed, label="sampled"];' if c.sampled else ';'))
    lines.append('}')
    return '\n'.join(lines) + '\n'
