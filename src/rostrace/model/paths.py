"""Paths and the dataflow graph, from one Window: what the kernel inferred (probes/bpf/
paths.c) -> PathBreakdown per (source topic, destination topic, final node).

The graph's edges are the window's links (a publisher process -> a subscriber process,
per topic: messages matched in the kernel or in user space) and its causes (a process
published topic B from callbacks of topic A). A path's end-to-end numbers are per message
(the kernel followed each message's chain); its hops are the route through the graph,
each with its topic's own numbers (all the messages of that topic in that node, not only
those of the path).
"""
from collections import deque
from dataclasses import dataclass, field

from .histogram import Accumulator, unavailable

HOP_STAGES = ('sampling_age', 'transport', 'queuing', 'deserialization', 'processing')


@dataclass
class Hop:
    node: str                   # the subscriber: its callbacks of `topic` are this hop
    pid: int
    topic: str
    publisher: str              # who published `topic`
    stages: dict = field(default_factory=dict)     # HOP_STAGES + end_to_end -> StageStats

    @property
    def latency(self):
        """Mean time of this hop (s), or 0: the publisher's hand-off -> the end of this
        hop's callback, plus the sampling age when the publisher sampled its input."""
        return sum(s.mean for name, s in self.stages.items()
                   if name in ('end_to_end', 'sampling_age') and s.available and s.count)

    def as_dict(self):
        return {'node': self.node, 'pid': self.pid, 'topic': self.topic,
                'publisher': self.publisher,
                'stages': {n: s.as_dict() for n, s in self.stages.items()}}


@dataclass
class PathBreakdown:
    name: str                   # configured name, else "source→destination"
    source: str
    destination: str
    node: str                   # the node whose callback of `destination` ends the path
    pid: int
    window_s: float
    count: int = 0              # messages followed from source to destination
    stages: dict = field(default_factory=dict)     # 'end_to_end' -> StageStats
    hops: list = field(default_factory=list)       # Hop, source first
    note: str = ''
    host: str = ''
    spec_name: str = ''         # the configured path's name (the monitor's)

    @property
    def worst_hop(self):
        return max(self.hops, key=lambda h: h.latency) if self.hops else None

    def as_dict(self):
        worst = self.worst_hop
        return {'path': self.name, 'from': self.source, 'to': self.destination,
                'node': self.node, 'count': self.count,
                'stages': {n: s.as_dict() for n, s in self.stages.items()},
                'hops': [h.as_dict() for h in self.hops],
                'worst_hop': self.hops.index(worst) if worst and worst.latency else None,
                **({'note': self.note} if self.note else {})}


def route_nodes(publishers, subscribers, source, destination):
    """Nodes on some route from topic `source` to topic `destination` in the master's
    graph ({topic: [nodes]} each): those reachable from the source's subscribers that
    also reach the destination's subscribers."""
    outputs, inputs = {}, {}
    for topic, nodes in publishers.items():
        for n in nodes:
            outputs.setdefault(n, set()).add(topic)
    for topic, nodes in subscribers.items():
        for n in nodes:
            inputs.setdefault(n, set()).add(topic)

    def reach(start, step):
        seen, todo = set(start), list(start)
        while todo:
            for nxt in step(todo.pop()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen
    forward = reach(subscribers.get(source, ()),
                    lambda n: {s for t in outputs.get(n, ()) for s in subscribers.get(t, ())})
    backward = reach(subscribers.get(destination, ()),
                     lambda n: {p for t in inputs.get(n, ()) for p in publishers.get(t, ())})
    return sorted(forward & backward)


def edges(window):
    """{(publisher pid, topic): {subscriber pid}} seen in the window's links."""
    out = {}
    for key, numbers in window.topics.items():
        for link_key, link in numbers.links.items():
            if link.messages:
                out.setdefault((link_key.publisher_pid, key.topic), set()).add(key.pid)
    return out


def route(window, source, destination, pid):
    """[(publisher pid, subscriber pid, topic)] from `source` to `destination` ending in
    process `pid` (shortest by hops), or None."""
    links = edges(window)
    causes = {}
    for c in window.causes:
        causes.setdefault((c.pid, c.input), set()).add(c.output)
    start = [((pub, sub, source),) for (pub, topic), subs in links.items()
             if topic == source for sub in subs]
    todo, seen = deque(start), set()
    while todo:
        hops = todo.popleft()
        _, sub, topic = hops[-1]
        if topic == destination and sub == pid:
            return list(hops)
        if (sub, topic) in seen or len(hops) > 16:
            continue
        seen.add((sub, topic))
        for output in sorted(causes.get((sub, topic), ())):
            for nxt in sorted(links.get((sub, output), ())):
                todo.append(hops + ((sub, nxt, output),))
    return None


def build_paths(window, node_name, *, wanted=None, names=None):
    """PathBreakdowns of a Window: every path the kernel followed (2+ hops) and the
    direct links (1 hop) when `wanted` ([(source, destination)]) asks for them; only
    those when given. `node_name(pid)` names processes; `names` {(source, destination):
    name}."""
    found = {}
    for key, numbers in window.paths.items():
        found.setdefault((key.source, key.topic, key.pid), []).append(numbers)
    for key, numbers in window.topics.items():          # 1 hop: the links themselves
        for link in numbers.links.values():
            if 'end_to_end' in link.stages and link.messages:
                found.setdefault((key.topic, key.topic, key.pid), []).append(link)
    out = []
    for source, destination in (wanted if wanted is not None
                                else sorted({(s, d) for s, d, _ in found if s != d})):
        ends = sorted(pid for s, d, pid in found if (s, d) == (source, destination))
        name = (names or {}).get((source, destination), f'{source}→{destination}')
        if not ends:
            out.append(PathBreakdown(name, source, destination, '', 0, window.window_s,
                                     stages={'end_to_end': unavailable('no message followed '
                                                                       'yet')},
                                     note='no message was followed from source to '
                                          'destination in this window'))
            continue
        for pid in ends:
            acc = None
            count = 0
            for numbers in found[source, destination, pid]:
                count += numbers.messages
                stage = numbers.stages.get('end_to_end')
                if stage is not None:
                    acc = acc or Accumulator()
                    acc.merge(stage)
            path = PathBreakdown(name, source, destination, node_name(pid), pid,
                                 window.window_s, count=count,
                                 stages={'end_to_end': acc.stats() if acc else
                                         unavailable('not measured')})
            path.hops = _hops(window, route(window, source, destination, pid) or [],
                              node_name)
            out.append(path)
    return out


def _hops(window, hops, node_name):
    sampled = {(c.pid, c.output) for c in window.causes if c.sampled}
    out = []
    for pub, sub, topic in hops:
        numbers = next((n for k, n in window.topics.items()
                        if k.pid == sub and k.topic == topic), None)
        if numbers is None:
            continue
        stages = {}
        for name in ('queuing', 'deserialization', 'processing'):
            acc = numbers.stages.get(name)
            if acc is not None:
                stages[name] = acc.stats()
        link = next((ln for lk, ln in numbers.links.items() if lk.publisher_pid == pub), None)
        for name in ('transport', 'end_to_end'):
            acc = link.stages.get(name) if link is not None else None
            stages[name] = acc.stats() if acc is not None else unavailable('not matched')
        if (pub, topic) in sampled and (pub, topic) in window.sampling:
            # A timer-driven hop: the publisher sampled its latest input this long after
            # that input's callback ended (the age is part of the path's end-to-end).
            stages['sampling_age'] = window.sampling[pub, topic].stats()
        out.append(Hop(node_name(sub), sub, topic, node_name(pub), stages))
    return out
