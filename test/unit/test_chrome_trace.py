"""Capture spans -> Chrome trace-event JSON (pure formatting)."""
from rostrace.output.chrome_trace import trace_events
from rostrace.probes import abi


class Names:
    def node(self, pid):
        return f'/n{pid}'

    def thread(self, pid, tid):
        return str(tid)

    def topic(self, pid, queue):
        return '/t'

    def published(self, pid, publication):
        return '/t'

    def timer(self, pid, info):
        return 'Controller::update'

    def service(self, pid, pub):
        return '/srv'


def span(kind, pid, tid, obj, *times, origin=(0, 0, 0)):
    s = abi.SpanEvent(type=kind, tgid=pid, tid=tid, object=obj)
    for name, t in zip(('t0', 't1', 't2', 't3'), times):
        setattr(s, name, t)
    s.origin_tgid, s.origin_publication, s.origin_t_publish = origin
    return s


def test_message_publish_and_flow():
    spans = [span(abi.SPAN_PUBLISH, 10, 11, 0xAB, 1000, 3000),
             span(abi.SPAN_MESSAGE, 20, 21, 0xCD, 5000, 7000, 8000, 20000,
                  origin=(10, 0xAB, 1000)),
             span(abi.SPAN_MESSAGE, 20, 21, 0xCD, 9000, 21000, 22000, 30000,
                  origin=(99, 0xEE, 4000))]          # its publisher was not captured
    events = trace_events(spans, Names())
    callback = [e for e in events if e.get('cat') == 'callback']
    assert [(e['ts'], e['dur']) for e in callback] == [(8.0, 12.0), (22.0, 8.0)]
    flows = [e for e in events if e['ph'] in 'sf']
    assert [e['ph'] for e in flows] == ['s', 'f']          # the dangling arrow is left out
    assert flows[0]['id'] == flows[1]['id'] and flows[1]['pid'] == 20
    queued = [e for e in events if e.get('cat') == 'queuing']
    assert [(e['ph'], e['ts']) for e in queued] == [('b', 5.0), ('e', 7.0), ('b', 9.0),
                                                    ('e', 21.0)]
    names = {e['args']['name'] for e in events if e['ph'] == 'M'}
    assert {'/n10', '/n20'} <= names


def test_timer_and_service_spans():
    events = trace_events([span(abi.SPAN_TIMER, 1, 1, 7, 100000, 150000),
                           span(abi.SPAN_SERVICE, 1, 2, 8, 1000, 2000, 9000)], Names())
    (timer,) = [e for e in events if e.get('cat') == 'timer']
    assert timer['name'] == 'timer Controller::update' and timer['dur'] == 50.0
    service = [e for e in events if e.get('cat') == 'service']
    assert [e['ph'] for e in service] == ['b', 'e', 'X'] and service[2]['dur'] == 7.0
