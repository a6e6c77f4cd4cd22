"""Kernel feature detection (system/features.py), on the running kernel and by version."""
import errno

from rostrace.system import features


def test_kernel_versions_compare_as_numbers():
    assert features.kernel_at_least('6.18.44-fc-v857', '5.7')
    assert features.kernel_at_least('5.10.0-28-amd64', '5.7')
    assert not features.kernel_at_least('5.4.0-150-generic', '5.7')
    assert not features.kernel_at_least('4.9.337-tegra', '5.8')
    assert not features.kernel_at_least('garbage', '5.8')


def test_a_map_type_the_kernel_does_not_know_is_refused_not_raised():
    assert features._map(9999, 4, 4, 1) == -errno.EINVAL


def test_every_feature_is_told_once_with_what_rostrace_does_without_it():
    found = features.detect(None, uprobe_links=None)
    assert [f.name for f, _ in found] == [f.name for f in features.FEATURES]
    assert all(f.without and f.since for f, _ in found)
    tracepoints = [p for f, p in found if 'tracepoint' in f.name]
    assert tracepoints and all(p is None for p in tracepoints)     # tracefs not given


def test_fallbacks_follow_the_kernel_and_the_test_switches():
    here = features.fallbacks(environ={})          # this kernel: ring buffer, 6.x
    assert here == []
    assert features.fallbacks('5.4.0-150-generic', environ={}) == [features.PROBE_READ]
    forced = features.fallbacks(environ={'ROSTRACE_NO_RINGBUF': '1'})
    assert forced == [features.PERF_EVENTS]
    assert features.fallbacks(environ={'ROSTRACE_NO_RINGBUF': '0'}) == []
    names = {f.name for f in features.FEATURES}
    assert {features.PERF_EVENTS.feature, features.PROBE_READ.feature} <= names
