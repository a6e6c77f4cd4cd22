"""Probe points by mangled name: robust to ABI tags and argument lists."""
import pytest

from rostrace.system.symbols import PROBE_POINTS, nested_name

ROSCPP_1_15 = ('_ZN3ros17SubscriptionQueue4pushERKN5boost10shared_ptrINS_26'
               'SubscriptionCallbackHelperEEERKNS2_INS_19MessageDeserializerEEEbRKNS1_8'
               'weak_ptrIKvEEbNS_4TimeEPb')


@pytest.mark.parametrize('mangled, expected', [
    (ROSCPP_1_15, ('ros', 'SubscriptionQueue', 'push')),
    ('_ZN3ros17SubscriptionQueue4callEv', ('ros', 'SubscriptionQueue', 'call')),
    ('_ZN3ros19MessageDeserializer11deserializeEv', ('ros', 'MessageDeserializer',
                                                     'deserialize')),
    ('_ZNK3ros4Time5toSecB5cxx11Ev', ('ros', 'Time', 'toSec')),        # const + ABI tag
    ('_ZN3ros17SubscriptionQueue4pushB5cxx11ERKi', ('ros', 'SubscriptionQueue', 'push')),
    ('_ZN3ros17SubscriptionQueueC2ERKNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEEib',
     None),                                                              # constructor
    ('_Z3fooi', None),
    ('main', None),
    ('_ZN3ros', None),
])
def test_nested_name(mangled, expected):
    assert nested_name(mangled) == expected


def test_probe_points_are_qualified_roscpp_names():
    assert all(q[0] == 'ros' if isinstance(q, tuple) else q.startswith('_ZN3ros')
               for q in PROBE_POINTS.values())


def test_timer_points_are_found_by_exact_name_in_the_installed_roscpp():
    from rostrace.system.symbols import TIMER_POINTS, find_probe_points
    found, missing = find_probe_points('/usr/lib/x86_64-linux-gnu/libroscpp.so',
                                       tuple(TIMER_POINTS))
    assert not missing and set(found) == set(TIMER_POINTS)
    assert {p.symbol for p in found.values()} == set(TIMER_POINTS.values())
