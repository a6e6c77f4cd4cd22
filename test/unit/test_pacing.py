"""Pacing: the monitor's publishing period within its CPU limit."""
import pytest

from rostrace.model.pacing import PERIOD_MAX_S, Pacing
from rostrace.views.diagnostics import OK, WARN, monitor_status


def paced(work_s, rest_share, configured_s, limit, periods=30):
    """The period after `periods` periods of `work_s` CPU each, with `rest_share` of a
    core spent outside them (following the graph, rospy's threads)."""
    pacing, period = Pacing(), configured_s
    for _ in range(periods):
        pacing.record(work_s, work_s + rest_share * period, period)
        period = pacing.period(configured_s, limit)
    return pacing, period


def test_cheap_work_keeps_the_configured_rate():
    assert paced(0.010, 0.01, 0.5, 15)[1] == 0.5


def test_costly_work_is_spread_so_the_whole_monitor_stays_within_its_limit():
    pacing, period = paced(0.36, 0.03, 1.0, 15)    # ~600 topics: 0.36 s per period
    assert period == pytest.approx(0.36 / (0.15 - 0.03), rel=0.01)
    assert pacing.share == pytest.approx(0.15, rel=0.01)


def test_never_slower_than_the_longest_period_nor_without_a_limit():
    assert paced(5.0, 0.2, 1.0, 15)[1] == PERIOD_MAX_S       # costly work
    assert paced(0.01, 0.5, 1.0, 15)[1] == 1.0      # a busy rest (new nodes) stretches nothing
    assert paced(5.0, 0.0, 10.0, 15)[1] == 10.0              # configured slower: kept
    assert paced(0.6, 0.03, 1.0, 0)[1] == 1.0                # 0: no limit


def test_the_rate_returns_when_the_work_shrinks():
    pacing, period = paced(0.6, 0.03, 1.0, 15)
    for _ in range(30):
        pacing.record(0.01, 0.01 + 0.03 * period, period)
        period = pacing.period(1.0, 15)
    assert period == 1.0


def status(pacing):
    return monitor_status(host='h', attached=[('/a', 1)], configured=1, probe_cost_us=1.0,
                          errors=[], pacing=pacing)


def test_the_monitor_status_says_when_it_publishes_less_often():
    s = status((1.0, 1.0, 4.2, 15.0))
    assert s.level == OK and ('publishing period (s)', '1.00') in s.values
    assert ('monitor CPU (% of a core)', '4.2') in s.values
    s = status((4.0, 1.0, 15.1, 15.0))
    assert s.level == WARN and 'publishing every 4.00 s, not every 1 s' in s.message
    assert 'monitor_cpu_percent' in s.message


def test_a_period_in_which_the_kernel_lost_numbers_is_not_reached_again():
    pacing, period = paced(0.6, 0.03, 1.0, 15)
    assert period == PERIOD_MAX_S
    pacing.numbers_lost(True, period, 1.0)          # the maps ran full in 4 s
    assert pacing.period(1.0, 15) == PERIOD_MAX_S * 0.75
    pacing.numbers_lost(True, 3.0, 1.0)
    assert pacing.period(1.0, 15) == 2.25
    for _ in range(100):                            # back up slowly, not to where it lost
        pacing.numbers_lost(False, 2.25, 1.0)
    assert pacing.period(1.0, 15) == pytest.approx(3.0 * 0.9)
    pacing.numbers_lost(True, 1.0, 1.0)             # lost at the configured rate: no ceiling
    assert pacing.period(1.0, 15) == pytest.approx(2.7)     # below it (fewer topics is the fix)


def test_the_period_stays_short_enough_for_the_kernels_maps():
    pacing, period = paced(0.6, 0.03, 1.0, 15)
    pacing.kernel_maps(0.4, False, 1.0, 1.0)     # 40 % of a map in 1 s: 2 s would be 80 %
    assert pacing.period(1.0, 15) == pytest.approx(2.0)
    pacing.kernel_maps(0.9, False, 1.0, 1.0)     # never below the configured period
    assert pacing.period(1.0, 15) == 1.0
    pacing.kernel_maps(0.0, False, 4.0, 1.0)     # nothing in the maps
    assert pacing.period(1.0, 15) == PERIOD_MAX_S


def test_one_costly_period_moves_nothing():
    pacing, period = paced(0.01, 0.01, 0.5, 15)
    pacing.record(2.0, 3.0, 0.5)                  # the first window after an attach
    assert pacing.period(0.5, 15) == 0.5
