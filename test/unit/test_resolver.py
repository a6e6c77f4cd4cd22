"""targets.Resolver: asking a node never waits on it; its answer (or failure) is taken
once, a stale one is asked again."""
import threading

import pytest

from rostrace.errors import NodeNotFound
from rostrace.system.targets import Resolver


class SlowMaster:
    """lookupNode answers (node unknown) only when released."""
    uri = 'http://master:11311'

    def __init__(self):
        self.release = threading.Event()
        self.asked = []

    def lookup_node(self, node):
        self.asked.append(node)
        assert self.release.wait(10)
        raise NodeNotFound(node, self.uri, [])


def wait_done(resolver):
    for _, future in list(resolver._asked.values()):
        future.exception(timeout=10)


def test_a_node_that_does_not_answer_holds_up_nobody():
    master, now = SlowMaster(), [0.0]
    resolver = Resolver(master=master, procfs=None, clock=lambda: now[0])
    try:
        assert resolver.get('/slow') is None            # asked, not waited for
        assert resolver.get('/slow') is None            # still asking: not asked twice
        assert resolver.get('/slow', 'publisher') is None   # another purpose: its own ask
        master.release.set()
        wait_done(resolver)
        with pytest.raises(NodeNotFound):
            resolver.get('/slow')
        with pytest.raises(NodeNotFound):
            resolver.get('/slow', 'publisher')
        assert master.asked == ['/slow', '/slow']
        assert resolver.get('/slow') is None            # taken once: the next get asks again
        wait_done(resolver)
        now[0] += Resolver.STALE_S + 1                  # an answer nobody took in time
        assert resolver.get('/slow') is None
        wait_done(resolver)
        assert master.asked == ['/slow'] * 4
    finally:
        resolver.close()
