"""Spans of `rostrace capture` (probes/bpf/capture.c) -> Chrome trace-event JSON, which
Perfetto UI (ui.perfetto.dev) and chrome://tracing open with no install.

Per thread: `deserialize <topic>` and `callback <topic>` slices (the callback from the
end of deserialization to the end of the user callback), `publish <topic>` (hand-off to
roscpp -> serialized), `timer <name>`, `service <name>` (the handler's turn -> response
ready); per process an async `queued <topic>` span (push -> deserialization starts) and
`request queued <name>`; a flow arrow from each publish to the callback of each message
it became, across processes. Timestamps are the kernel's monotonic clock in us.
"""
from ..probes import abi


def _us(ns):
    return ns / 1000.0


def trace_events(spans, names):
    """[event dict] of the spans; `names` answers node(pid), thread(pid, tid),
    topic(pid, queue), published(pid, publication), timer(pid, info), service(pid, pub)."""
    events, threads = [], set()
    for s in spans:
        pid, tid = s.tgid, s.tid
        threads.add((pid, tid))
        if s.type == abi.SPAN_MESSAGE:
            topic = names.topic(pid, s.object)
            flow = _flow_id(s.origin_tgid, s.origin_publication, s.origin_t_publish)
            if s.t0 and s.t1 > s.t0:
                events += [{'ph': 'b', 'cat': 'queuing', 'name': f'queued {topic}',
                            'id': _id('q', pid, s.t0, s.object), 'pid': pid, 'ts': _us(s.t0)},
                           {'ph': 'e', 'cat': 'queuing', 'name': f'queued {topic}',
                            'id': _id('q', pid, s.t0, s.object), 'pid': pid, 'ts': _us(s.t1)}]
            start = s.t2 or s.t1
            if s.t2 > s.t1:
                events.append(_slice(f'deserialize {topic}', 'deserialize', pid, tid, s.t1,
                                     s.t2))
            events.append(_slice(f'callback {topic}', 'callback', pid, tid, start, s.t3,
                                 {'topic': topic, 'push_ns': s.t0}))
            if flow is not None and s.origin_t_publish <= start:
                events.append({'ph': 'f', 'bp': 'e', 'cat': 'message', 'name': 'message',
                               'id': flow, 'pid': pid, 'tid': tid, 'ts': _us(start)})
        elif s.type == abi.SPAN_PUBLISH:
            topic = names.published(pid, s.object)
            events.append(_slice(f'publish {topic}', 'publish', pid, tid, s.t0, s.t1,
                                 {'topic': topic}))
            events.append({'ph': 's', 'cat': 'message', 'name': 'message',
                           'id': _flow_id(pid, s.object, s.t0), 'pid': pid, 'tid': tid,
                           'ts': _us(s.t0)})
        elif s.type == abi.SPAN_TIMER:
            events.append(_slice(f'timer {names.timer(pid, s.object)}', 'timer', pid, tid,
                                 s.t0, s.t1))
        elif s.type == abi.SPAN_SERVICE:
            name = names.service(pid, s.object)
            events += [{'ph': 'b', 'cat': 'service', 'name': f'request queued {name}',
                        'id': _id('s', pid, s.t0), 'pid': pid, 'ts': _us(s.t0)},
                       {'ph': 'e', 'cat': 'service', 'name': f'request queued {name}',
                        'id': _id('s', pid, s.t0), 'pid': pid, 'ts': _us(s.t1)},
                       _slice(f'service {name}', 'service', pid, tid, s.t1, s.t2)]
    started = {e['id'] for e in events if e['ph'] == 's'}
    events = [e for e in events if e['ph'] != 'f' or e['id'] in started]  # publisher traced
    meta = [{'ph': 'M', 'name': 'process_name', 'pid': pid, 'args': {'name': names.node(pid)}}
            for pid in sorted({p for p, _ in threads})]
    meta += [{'ph': 'M', 'name': 'thread_name', 'pid': pid, 'tid': tid,
              'args': {'name': names.thread(pid, tid)}} for pid, tid in sorted(threads)]
    return meta + events


def _slice(name, cat, pid, tid, t0, t1, args=None):
    event = {'ph': 'X', 'cat': cat, 'name': name, 'pid': pid, 'tid': tid, 'ts': _us(t0),
             'dur': _us(max(t1 - t0, 0))}
    if args:
        event['args'] = args
    return event


def _id(*parts):
    """A stable integer id (JSON-safe: 53 bits) for the parts."""
    return hash(parts) & ((1 << 53) - 1)


def _flow_id(pid, publication, t_publish):
    if not pid or not publication or not t_publish:
        return None
    return _id('flow', pid, publication, t_publish)
