"""Fixtures of the integration tests that cross processes: a tracer shared by a
module's tests (a module may define its own), a veth pair into a second network
namespace and a roscore advertising its host side."""
import pytest

from harness import RosSystem
from netns import VethPair


@pytest.fixture(scope='module')
def tracer():
    from rostrace.engine import Tracer
    t = Tracer()
    yield t
    t.close()


@pytest.fixture
def session(tracer):
    """The module's tracer, with everything a test attached detached after it."""
    yield tracer
    for pid in list(tracer.targets) + list(tracer.publisher_targets):
        tracer.detach(pid)
    tracer.publisher_notes.clear()
    tracer.collect()                    # drop what is left of the test's events


@pytest.fixture
def veth():
    pair = VethPair()
    yield pair
    pair.close()


@pytest.fixture
def ros_veth(veth, request):
    """A roscore and nodes that advertise the host side of the veth pair."""
    system = RosSystem(ros_ip=veth.host_ip).start()
    yield system
    system.shutdown()
    failed = getattr(request.node, 'rep_call', None) is not None and request.node.rep_call.failed
    if failed:
        print(f'\nlogs kept in {system.logdir}')
