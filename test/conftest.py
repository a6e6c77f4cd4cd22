"""Fixtures: a private roscore per test, processes ended by process group."""
import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# After the workspace's devel space (which also carries the generated rostrace.msg);
# first only where no workspace was sourced (unit tests).
sys.path.append(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'src'))

from harness import RosSystem  # noqa: E402


@pytest.fixture
def ros(request):
    """A running private roscore; every process started through it is ended after."""
    system = RosSystem().start()
    yield system
    system.shutdown()
    failed = getattr(request.node, 'rep_call', None) is not None and request.node.rep_call.failed
    if failed or os.environ.get('ROSTRACE_TEST_KEEP') == '1':
        print(f'\nlogs kept in {system.logdir}')
    else:
        shutil.rmtree(system.logdir, ignore_errors=True)


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, 'rep_' + rep.when, rep)
