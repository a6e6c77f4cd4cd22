"""The overhead budget's estimate and its step-down / step-up rule (model/budget.py)."""
from rostrace.model.budget import (HOLD_WINDOWS, STATS_ANSWERS_NS, Activity, BudgetGovernor,
                                   Costs, HandlerTimes, estimate_ns, percent_of_core)

COSTS = Costs(trap_ns=1000.0, handler_ns={
    'on_subscription_queue_push': 500.0,
    'on_message_deserializer_deserialize': 400.0,
    'on_message_deserializer_deserialize_return': 100.0,
    'on_subscription_callback_done': 1000.0,
    'tracepoint__sched__sched_switch': 300.0,
    'tracepoint__sched__sched_waking': 200.0,
    'tracepoint__exceptions__page_fault_user': 100.0})


def activity(rate, window_s=1.0, **kw):
    n = int(rate * window_s)
    return Activity(window_s=window_s, received=n, processed=n, **kw)


def test_estimate_counts_traps_and_handler_time_per_mode():
    a = activity(1000, switches=2000, wakeups=1000, faults=100)
    # full: 1 trap + push per received; 3 traps (deserialize entry + return, callback
    # done) + 3 handlers per processed; scheduler.
    assert estimate_ns('full', a, COSTS) == (1000 * (1000 + 500) + 1000 * (3000 + 1500)
                                             + 2 * 2000 * 300 + 1000 * 200 + 100 * 100)
    assert estimate_ns('reduced', a, COSTS) == 1000 * 1500 + 1000 * (2000 + 1400)
    assert estimate_ns('counts', a, COSTS) == 1000 * 1500
    assert percent_of_core(10e6, 1.0) == 1.0


def test_steps_down_until_within_budget_then_back_up_when_the_rate_falls():
    g = BudgetGovernor(2.9)
    # 5000 msg/s: full 3.0 %, reduced 2.45 %, counts 0.75 % of a core.
    assert g.update(activity(5000), COSTS) == 'reduced'
    assert 'budget 2.9 %' in g.reason
    g = BudgetGovernor(1.0)
    assert g.update(activity(5000), COSTS) == 'counts'     # straight to what fits
    for _ in range(HOLD_WINDOWS + 3):               # counts is within budget: stays
        assert g.update(activity(5000), COSTS) == 'counts'
    assert 0.7 < g.estimate_percent < 0.8
    # 50 msg/s: every richer mode is well within budget -> back to full, a step at a time
    modes = [g.update(activity(50), COSTS) for _ in range(2 * HOLD_WINDOWS + 2)]
    assert modes[0] == 'reduced' and modes[-1] == 'full'


def test_in_counts_mode_processed_is_predicted_from_received_minus_dropped():
    g = BudgetGovernor(1.0)
    g.mode = 'counts'
    quiet = Activity(window_s=1.0, received=100, processed=0, dropped=0)
    assert g.update(quiet, COSTS) == 'reduced'      # 100 msg/s: reduced ~0.06 %
    g = BudgetGovernor(0.001)
    g.mode = 'counts'
    assert g.update(Activity(window_s=1.0, received=100), COSTS,
                    cheapest='counts', why_not='a rospy node') == 'counts'
    assert 'even counting only (stats mode out: a rospy node)' in g.reason


def test_stats_mode_costs_two_answers_per_window_whatever_the_rate():
    assert estimate_ns('stats', activity(50), COSTS) == STATS_ANSWERS_NS
    assert estimate_ns('stats', activity(50000), COSTS) == STATS_ANSWERS_NS
    g = BudgetGovernor(0.5)
    # 5000 msg/s: counts alone is 0.75 % > 0.5 %: only the node's own counts fit.
    assert g.update(activity(5000), COSTS) == 'stats'
    for _ in range(HOLD_WINDOWS + 3):
        assert g.update(Activity(window_s=1.0, received=5000), COSTS) == 'stats'
    assert g.estimate_percent == percent_of_core(STATS_ANSWERS_NS, 1.0)
    # processed is not counted there: predicted from received - dropped on the way up
    modes = [g.update(Activity(window_s=1.0, received=50), COSTS)
             for _ in range(3 * HOLD_WINDOWS + 3)]
    assert modes[0] == 'counts' and modes[-1] == 'full'


def test_a_node_that_cannot_be_counted_by_its_statistics_leaves_stats_mode_at_once():
    g = BudgetGovernor(0.5)
    assert g.update(activity(5000), COSTS) == 'stats'
    mode = g.update(Activity(window_s=1.0, received=5000), COSTS, cheapest='counts',
                    why_not='its statistics are not readable: timeout')
    assert mode == 'counts' and 'stats mode left: its statistics are not readable' in g.reason
    # and does not go back while it cannot (counts: over budget, the cheapest it has)
    for _ in range(HOLD_WINDOWS + 2):
        assert g.update(activity(5000), COSTS, cheapest='counts', why_not='x') == 'counts'


def test_handler_means_need_enough_runs():
    times = HandlerTimes(min_runs=100)
    # Before a mean of 100 runs: the mean of every run so far (an interrupted run among
    # the first few is diluted by the next ones).
    assert times.update({'push': (4, 3 * 1000 + 130_000)}) == {'push': 133_000 / 4}
    assert times.update({'push': (50, 133_000 + 46 * 1000)})['push'] == 179_000 / 50
    assert times.update({'push': (100, 179_000 + 50 * 1000)})['push'] == 2290.0
    # Then a new mean only of 100 more runs: an interrupted run among a few waits.
    assert times.update({'push': (103, 229_000 + 2 * 1000 + 130_000)})['push'] == 2290.0
    got = times.update({'push': (200, 361_000 + 97 * 1000)})['push']
    assert got == (2 * 1000 + 130_000 + 97 * 1000) / 100
    # Counters that went back (a program loaded again) start again.
    assert times.update({'push': (5, 5000)})['push'] == got
    assert times.update({'push': (100, 90_000)})['push'] == 900.0
