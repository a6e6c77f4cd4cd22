"""Links across hosts: the clock offset from pings, and sent/received pairing."""
from rostrace.model.clocksync import OffsetEstimator
from rostrace.model.remote import (RemoteMatcher, ReceivedRecord, SentRecord, parse_address,
                                   address_text)
from rostrace.model.clocksync import Offset

MS = 10**6
S = 10**9


def ping(est, t1, offset, d1, d2, hold=0):
    """A ping with one-way delays d1 (there) and d2 (back), `offset` = theirs - ours."""
    t2 = t1 + d1 + offset
    t3 = t2 + hold
    t4 = t3 - offset + d2
    return est.add(t1, t2, t3, t4)


def test_offset_is_bounded_by_every_ping_and_tightens():
    est = OffsetEstimator()
    true = 500 * MS
    ping(est, 0, true, 3 * MS, 1 * MS)
    first = est.estimate()
    assert abs(first.offset_ns - true) <= first.uncertainty_ns == 2 * MS
    ping(est, 1 * S, true, 1 * MS, 2 * MS)
    ping(est, 2 * S, true, 2 * MS, 0.2 * MS)
    tight = est.estimate()
    assert tight.uncertainty_ns < first.uncertainty_ns
    assert abs(tight.offset_ns - true) <= tight.uncertainty_ns
    assert tight.pings == 3


def test_impossible_pings_are_refused_and_a_stepped_clock_restarts():
    est = OffsetEstimator()
    assert not est.add(10, 5, 6, 9)          # back before it left
    assert not est.add(0, 10, 5, 20)         # replied before it arrived
    assert est.estimate() is None
    ping(est, 0, 0, 1 * MS, 1 * MS)
    ping(est, 1 * S, 2 * S, 1 * MS, 1 * MS)  # their clock jumped 2 s
    now = est.estimate()
    assert now.pings == 1 and abs(now.offset_ns - 2 * S) <= now.uncertainty_ns


def test_old_pings_leave_the_estimate():
    est = OffsetEstimator(horizon_ns=10 * S)
    ping(est, 0, 0, 1 * MS, 1 * MS)
    ping(est, 20 * S, 0, 5 * MS, 5 * MS)
    assert est.estimate(now_ns=21 * S).uncertainty_ns == 5 * MS


def test_addresses_round_trip_and_nonsense_is_none():
    assert parse_address(address_text(('10.0.0.2', 11311))) == ('10.0.0.2', 11311)
    assert parse_address(address_text(('fd00::1', 80))) == ('fd00::1', 80)
    assert parse_address('[::ffff:10.1.2.3]:5') == ('10.1.2.3', 5)
    for bad in ('', 'x', '10.0.0.1', '10.0.0.1:0', '10.0.0.1:99999', 'host:80',
                '1.2.3.4:80' * 10, None, 5):
        assert parse_address(bad) is None


KEY = (('10.0.0.3', 40000), ('10.0.0.2', 5000))     # (subscriber, publisher)


def sent(fp, t):
    return SentRecord((100, fp), t, t + 10_000, t + 20_000)


def received(fp, t, pid=7):
    return ReceivedRecord((100, fp), pid, 0xabc, t, t + 1 * MS)


def test_pairs_with_the_offset_and_skips_what_the_subscriber_dropped():
    m = RemoteMatcher()
    offset = Offset(500 * MS, 100_000, 3)   # their clock is 0.5 s ahead
    for i in range(3):
        m.add_received(KEY, received(i, 1 * S + i * 10 * MS + 5 * MS))
    m.match(2 * S, {'hostA': offset})       # no batch yet: they wait
    assert m.take() == {} and m.unmatched == 0
    m.add_sent(KEY, '/talker', 'hostA',
               [sent(i, 1 * S + 500 * MS + i * 10 * MS) for i in (0, 9, 1, 2)])
    m.match(2 * S, {'hostA': offset})
    (link_id, link), = m.take().items()
    assert (link_id.publisher, link_id.host, link_id.subscriber_pid) == ('/talker', 'hostA', 7)
    assert link.messages == 3 and link.uncertainty_ns == 100_000
    transport = link.stages['transport']
    assert transport.count == 3 and transport.min_ns == transport.max_ns == 5 * MS
    assert link.stages['end_to_end'].max_ns == 6 * MS
    assert link.stages['publish_queue'].max_ns == 10_000
    assert m.pending() == 0


def test_unmatched_after_the_hold_and_unknown_clock_waits():
    m = RemoteMatcher()
    m.add_received(KEY, received(1, 1 * S))
    m.add_sent(KEY, '/talker', 'hostA', [sent(1, 1 * S)])
    m.match(2 * S, {})                      # no offset for hostA yet
    assert m.take() == {} and m.unmatched == 0
    m.match(20 * S, {})
    assert m.unmatched == 1


def test_a_negative_crossing_value_is_counted_and_kept_as_zero():
    m = RemoteMatcher()
    m.add_received(KEY, received(1, 1 * S))
    m.add_sent(KEY, '/talker', 'hostA', [sent(1, 1 * S + 1 * MS)])
    m.match(2 * S, {'hostA': Offset(0, 2 * MS, 3)})
    link, = m.take().values()
    assert link.below_clock == 1 and link.stages['transport'].count == 1
    assert link.stages['transport'].max_ns == 0


def test_a_first_ping_or_two_are_not_enough_to_pair():
    m = RemoteMatcher()
    m.add_received(KEY, received(1, 1 * S))
    m.add_sent(KEY, '/talker', 'hostA', [sent(1, 1 * S - 1 * MS)])
    m.match(2 * S, {'hostA': Offset(0, 5 * MS, 2)})
    assert m.take() == {}
    m.match(3 * S, {'hostA': Offset(0, 100_000, 3)})
    assert next(iter(m.take().values())).messages == 1


def test_merged_windows_keep_the_widest_uncertainty():
    from rostrace.model.numbers import LinkNumbers
    a = LinkNumbers(messages=1, clock=(5, 900))
    a.merge(LinkNumbers(messages=1, clock=(7, 100)))
    assert a.clock == (7, 900)
