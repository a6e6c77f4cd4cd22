"""A timer's callback name as the live view and /diagnostics show it."""
import pytest

from rostrace.engine.timers import _callable_type, short_name


@pytest.mark.parametrize('demangled, short', [
    ('void (anonymous namespace)::Controller::update<ros::TimerEvent>(ros::TimerEvent const&)',
     'Controller::update<ros::TimerEvent>'),
    ('Controller::update(ros::TimerEvent const&)', 'Controller::update'),
    ('tick(ros::SteadyTimerEvent const&)', 'tick'),
    ('std::vector<int, std::allocator<int> > make(int)', 'make'),
    ('plain', 'plain'),
])
def test_short_name(demangled, short):
    assert short_name(demangled) == short


def test_callable_type_from_the_invoker():
    invoker = ('boost::detail::function::void_function_obj_invoker1<main::{lambda(ros::'
               'TimerEvent const&)#1}, void, ros::TimerEvent const&>::invoke')
    assert _callable_type(invoker) == 'main::{lambda(ros::TimerEvent const&)#1}'
    assert _callable_type('no_template') is None
