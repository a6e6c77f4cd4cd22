"""The budget's `stats` mode asks nodes over real XML-RPC (engine/nodestats.py): counts
flow from well-formed answers; a node that answers nonsense, slowly or not at all is a
problem named for its status, never an exception or a window held longer than
ANSWER_WAIT_S."""
import threading
import time
import xmlrpc.client
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from rostrace.engine.nodestats import ANSWER_WAIT_S, NodeCounters


class FakeNode:
    """A slave API answering getBusStats like roscpp 1.15 (its stats where the code
    should be) and getBusInfo with one publisher link of /x; `mode` turns it hostile."""

    def __init__(self):
        self.received = self.dropped = 0
        self.mode = 'roscpp'
        node = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers['Content-Length']))
                _, method = xmlrpc.client.loads(body)
                reply = node.reply(method)
                if reply is None:
                    return              # hangs up without a word
                self.send_response(200)
                self.send_header('Content-Length', str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self.server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.uri = f'http://127.0.0.1:{self.server.server_port}/'
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reply(self, method):
        if self.mode == 'garbage':
            return b'<methodResponse>\x00not xml'
        if self.mode == 'slow':
            time.sleep(1.5)
        if self.mode == 'hang-up':
            return None
        if method == 'getBusStats':
            value = [[], [['/x', [[7, 0, self.received, self.dropped, 0]]]]]
            if self.mode == 'wrong shape':
                value = ['/x', 'no lists']
        else:
            value = [1, '', [[7, 'http://pub:1/', 'i', 'TCPROS', '/x', True, 'TCPROS ...']]]
        return xmlrpc.client.dumps((value,), methodresponse=True).encode()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def node():
    n = FakeNode()
    yield n
    n.close()


@pytest.fixture
def counters():
    c = NodeCounters()
    yield c
    c.close()


def target(node):
    return SimpleNamespace(pid=4242, uri=node.uri, node='/fake')


def window(counters):
    """One window's end: ask, then take (timed)."""
    counters.ask()
    began = time.monotonic()
    got = counters.take()
    return got, time.monotonic() - began


def test_counts_between_windows_from_a_well_formed_node(node, counters):
    node.received, node.dropped = 100, 3
    counters.start(target(node))                     # the baseline
    node.received, node.dropped = 350, 10
    got, _ = window(counters)
    assert (got[4242]['/x'].received, got[4242]['/x'].dropped) == (250, 7)
    assert counters.problem(4242) is None
    got, _ = window(counters)
    assert (got[4242]['/x'].received, got[4242]['/x'].dropped) == (0, 0)    # a quiet window
    node.received = 360
    counters.stop(4242)                              # the last count is kept ...
    got, _ = window(counters)
    assert got[4242]['/x'].received == 10            # ... for the next window
    assert not counters.counting(4242)


@pytest.mark.parametrize('mode', ['garbage', 'wrong shape', 'hang-up'])
def test_a_node_answering_nonsense_is_a_problem_not_an_exception(node, counters, mode):
    node.mode = mode
    counters.start(target(node))
    got, _ = window(counters)
    assert got == {}
    problem = counters.problem(4242)
    assert problem and problem.startswith('its statistics are not readable'), problem
    node.mode = 'roscpp'                             # it recovers: counted again
    window(counters)
    node.received += 5
    got, _ = window(counters)
    assert counters.problem(4242) is None and got[4242]['/x'].received == 5


def test_a_slow_node_holds_a_window_at_most_the_answer_wait(node, counters):
    node.mode = 'slow'
    began = time.monotonic()
    counters.start(target(node))
    assert time.monotonic() - began < ANSWER_WAIT_S + 0.15
    _, took = window(counters)
    assert took < ANSWER_WAIT_S + 0.15
    # past the slave-API deadline (1 s) the node is a problem
    deadline = time.monotonic() + 5
    while counters.problem(4242) is None and time.monotonic() < deadline:
        window(counters)
        time.sleep(0.2)
    assert 'not readable' in (counters.problem(4242) or '')


def test_a_node_whose_statistics_failed_is_not_counted_so_again_for_a_while(node, counters):
    node.mode = 'garbage'
    counters.start(target(node))
    window(counters)
    assert counters.problem(4242)
    counters.stop(4242)                 # the budget left `stats` for `counts`
    assert 'not readable' in counters.problem(4242)     # and does not come back yet
