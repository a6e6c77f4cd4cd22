"""model/rospy.py: a rospy node's slave API answers (untrusted) and the drop count."""
from rostrace.model.rospy import BusConnection, DropCounter, parse_bus_info, parse_bus_stats

INFO = 'TCPROS connection on port 41374 to [127.0.0.1:40623 on socket 6]'


def test_bus_info_keeps_tcpros_connections_with_their_ports():
    value = [[1, 'http://pub:1/', 'i', 'TCPROS', '/a', True, INFO],
             [2, '/sub', 'o', 'TCPROS', '/b', True, INFO],              # outbound
             [10, '/sub', 'x', 'TCPROS', '/b', True, INFO],             # no direction
             [3, 'http://pub:1/', 'i', 'UDPROS', '/c', True, INFO],     # not TCP
             [4, 'http://pub:1/', 'i', 'TCPROS', 'no-slash', True, INFO],
             [5, 'http://pub:1/', 'i', 'TCPROS', '/e', True, 'on socket x'],
             ['6', 'http://pub:1/', 'i', 'TCPROS', '/f', True, INFO],   # id not an int
             [7, 'x', 'i', 'TCPROS', '/g', True, INFO.replace('40623', '99999')],
             [8, 'x', 'i', 'TCPROS', '/h', True, INFO.replace('socket 6', 'socket None')],
             'garbage', [9]]
    assert parse_bus_info(value) == [BusConnection(1, '/a', 41374, 40623),
                                     BusConnection(2, '/b', 41374, 40623, outbound=True),
                                     BusConnection(8, '/h', 41374, 40623)]
    assert parse_bus_info('nonsense') == [] and parse_bus_info(None) == []


def test_bus_stats_reads_subscriber_connections_only():
    value = [[['/out', 5, [[1, 10, 5, True]]]],
             [['/a', [[1, 100, 7, -1, True], [2, 50, 3, -1, False]]],
              ['/b', [[3, 0, -4, -1, True], 'x']], ['bad', [[4, 1, 1, -1, True]]]],
             []]
    assert parse_bus_stats(value) == {('/a', 1): 7, ('/a', 2): 3}
    assert parse_bus_stats([]) == {} and parse_bus_stats({'a': 1}) == {}


def test_drops_count_only_from_snapshots_taken_while_the_reader_waits():
    d = DropCounter()
    idle = lambda frames, reads, lost=0: (frames, reads, 1, lost, reads)     # noqa: E731
    assert d.update(idle(10, 10), idle(10, 10), delivered=40) == 0     # baseline
    # a read returned while rospy was asked: no count
    assert d.update(idle(15, 12), idle(20, 13), delivered=43) == 0
    # the reader was processing (not in recv): no count
    assert d.update((20, 13, 0, 0, 13), (20, 13, 0, 0, 13), delivered=44) == 0
    assert d.update(idle(30, 20), idle(30, 20), delivered=52) == 8      # 20 read, 12 kept
    assert d.update(idle(30, 20), idle(30, 20), delivered=52) == 0      # nothing new
    assert d.update(idle(35, 25), idle(35, 25), delivered=57) == 0      # none dropped
    # framing lost and found again: a new baseline, nothing invented
    assert d.update(idle(36, 30, 1), idle(36, 30, 1), delivered=70) == 0
    assert d.update(idle(40, 34, 1), idle(40, 34, 1), delivered=72) == 2


def test_a_socket_not_read_since_registration_is_a_baseline_while_busy():
    d = DropCounter()
    assert d.wants((0, 0, 0, 0, 0))
    assert d.update((0, 0, 0, 0, 0), (0, 0, 0, 0, 0), delivered=5) == 0    # base (0, 5)
    assert not d.wants((10, 10, 1, 0, 0))       # one message per read: none dropped
    assert not d.wants((30, 9, 0, 0, 2))        # several, but the reader is busy
    assert d.wants((30, 9, 1, 0, 2))
    assert d.update((30, 9, 1, 0, 2), (30, 9, 1, 0, 2), delivered=15) == 20
    assert not d.wants((30, 9, 1, 0, 2))
