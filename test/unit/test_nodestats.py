"""A roscpp node's own counters read as the budget's `stats` mode (model/nodestats.py):
both clients' reply shapes, roscpp's one-link-per-topic report, untrusted answers."""
from rostrace.model.nodestats import (CounterDeltas, LinkCounters, bus_stats_value,
                                      inbound_links, subscription_counters)

# What Debian's roscpp 1.15.15 answered here: no [code, message, value] around it.
ROSCPP = [[['/rosout', [[0, 0, 0, 0, 0]]]], [['/x', [[3, 1200, 100, 2, 0]]]]]


def info(*topics):
    return [[i, 'http://h:1/', 'i', 'TCPROS', t, True, 'TCPROS connection on port 1 to '
             '[h:2 on socket 9]'] for i, t in enumerate(topics)] + [
        [99, '/rosout', 'o', 'TCPROS', '/rosout', True, '']]


def stats(received, dropped, *, topic='/x', connection=3):
    return [[], [[topic, [[connection, 10 * received, received, dropped, 0]]]]]


def test_both_reply_shapes_give_the_statistics():
    assert bus_stats_value(ROSCPP) == ROSCPP
    assert bus_stats_value([1, '', ROSCPP]) == ROSCPP        # rospy's
    assert bus_stats_value([-1, 'error', []]) is None
    for bad in (None, 'x', [], [1], [[], 'subs']):
        assert bus_stats_value(bad) is None
    assert subscription_counters(ROSCPP) == {'/x': [LinkCounters(3, 100, 2)]}


def test_untrusted_entries_are_left_out():
    junk = [[], [['no-slash', [[1, 1, 1, 1, 0]]], ['/a', [[1, 1, -5, 0, 0], ['x'], 7]],
                 ['/b', 'links'], [1, 2, 3], ['/' + 'x' * 2000, [[1, 1, 1, 1, 0]]],
                 ['/c', [[True, 1, 1, 1, 0], [2, 1, 1.5, 1, 0], [4, 0, 8, 1, 0]]]]]
    assert subscription_counters(junk) == {'/a': [], '/c': [LinkCounters(4, 8, 1)]}
    assert inbound_links([['x'], [1, 'u', 'i', 'TCPROS', 'bad'], 5]) == {}


def test_deltas_between_answers_start_at_a_baseline():
    d = CounterDeltas()
    assert d.update(stats(100, 2), info('/x')) == {}                  # the baseline
    got = d.update(stats(350, 7), info('/x'))['/x']
    assert (got.received, got.dropped) == (250, 5)
    # a new link under another id (the publisher restarted): a new baseline
    assert d.update(stats(10, 0, connection=4), info('/x')) == {}
    got = d.update(stats(15, 0, connection=4), info('/x'))['/x']
    assert (got.received, got.dropped) == (5, 0)
    # counters that go back (a 32-bit wrap, a replaced link): a new baseline, no negative
    assert d.update(stats(3, 0, connection=4), info('/x')) == {}


def test_a_topic_with_several_publishers_is_not_counted():
    d = CounterDeltas()
    d.update(stats(100, 0), info('/x', '/x'))
    assert d.update(stats(200, 0), info('/x', '/x')) == {}
    assert d.uncountable == ('/x',)
    d.update(stats(300, 0), info('/x'))                     # back to one: a new baseline
    assert d.uncountable == () and d.update(stats(310, 0), info('/x'))['/x'].received == 10
