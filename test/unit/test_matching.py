"""TransportMatcher: pairing sent and received messages per TCP connection. [pure logic;
the acceptance path with real processes and probes is test/integration/test_transport.py]"""
from rostrace.probes.abi import (EVENT_RECEIVED, EVENT_SENT, FP_HEAD, KIND_INTRA, KIND_TCP,
                                 XferEvent)
from rostrace.model.matching import LinkId, TransportMatcher

PUB, SUB_A, SUB_B = 100, 200, 300
PUB_ADDR = ('10.0.0.2', 40000)
A_ADDR, B_ADDR = ('10.0.0.1', 50000), ('10.0.0.1', 50001)
# (pid, fd) -> (local, remote), as each process sees its socket
SOCKETS = {(PUB, 7): (PUB_ADDR, A_ADDR), (SUB_A, 9): (A_ADDR, PUB_ADDR),
           (PUB, 8): (PUB_ADDR, B_ADDR), (SUB_B, 9): (B_ADDR, PUB_ADDR)}


def event(event_type, **fields):
    payload = fields.pop('payload')
    ev = XferEvent(type=event_type, **fields)
    ev.fp.len = len(payload)
    head = payload[:FP_HEAD]
    for i, b in enumerate(head):
        ev.fp.head[i] = b
    if len(payload) >= FP_HEAD + 8:
        for i, b in enumerate(payload[-8:]):
            ev.fp.tail[i] = b
    ev.fp.hash = hash(payload) & 0xFFFFFFFFFFFFFFFF     # the kernel hashes those bytes
    return ev


def sent(fd, n, payload, *, t=1000, dropped=0):
    return event(EVENT_SENT, tgid=PUB, fd=fd, publication=0xAB, seq=n, dropped=dropped,
                 t_publish=t, t_serialized=t + 10, t_sent=t + 50, payload=payload)


def received(pid, payload, *, t=1000, fd=9, queue=0xCD):
    return event(EVENT_RECEIVED, tgid=pid, fd=fd, kind=KIND_TCP, object=queue,
                 t_received=t + 200, t_done=t + 1200, payload=payload)


def matcher():
    return TransportMatcher(lambda pid, fd: SOCKETS.get((pid, fd)))


def msg(i, size=64):
    return i.to_bytes(8, 'little') + bytes(size - 8)


def test_pairs_in_order_and_skips_messages_the_subscriber_dropped():
    m = matcher()
    m.feed([sent(7, n, msg(n), t=n * 1000) for n in (1, 2, 3)])
    m.feed([received(SUB_A, msg(1), t=1000), received(SUB_A, msg(3), t=3000)])
    link = m.take()[LinkId(PUB, 0xAB, SUB_A, 0xCD, False)]
    assert link.messages == 2
    assert link.stages['transport'].count == 2
    assert link.stages['transport'].sum_ns == 400             # 200 ns each
    assert link.stages['end_to_end'].sum_ns == 2400
    assert link.stages['publish_queue'].sum_ns == 80
    assert m.unmatched == 0


def test_message_sent_before_tracing_is_unmatched_not_paired_with_a_neighbour():
    m = matcher()
    m.feed([sent(7, 2, msg(2))])
    m.feed([received(SUB_A, msg(1)), received(SUB_A, msg(2))])
    link = m.take()[LinkId(PUB, 0xAB, SUB_A, 0xCD, False)]
    assert (link.messages, m.unmatched) == (1, 1)


def test_two_subscribers_get_their_own_connections():
    m = matcher()
    m.feed([sent(7, 1, msg(1)), sent(8, 1, msg(1), t=5000)])
    m.feed([received(SUB_B, msg(1), t=5000), received(SUB_A, msg(1))])
    links = m.take()
    assert links[LinkId(PUB, 0xAB, SUB_A, 0xCD, False)].stages['transport'].sum_ns == 200
    assert links[LinkId(PUB, 0xAB, SUB_B, 0xCD, False)].stages['transport'].sum_ns == 200


def test_identical_messages_pair_first_in_first_out():
    m = matcher()
    same = bytes(16)
    m.feed([sent(7, 1, same, t=1000), sent(7, 2, same, t=2000)])
    m.feed([received(SUB_A, same, t=1000)])
    link = m.take()[LinkId(PUB, 0xAB, SUB_A, 0xCD, False)]
    assert link.stages['transport'].sum_ns == 200


def test_outgoing_drops_go_to_the_link_once_it_is_known():
    m = matcher()
    m.feed([sent(7, 1, msg(1)), sent(7, 5, msg(5), dropped=3)])
    m.feed([received(SUB_A, msg(5))])
    first = m.take()[LinkId(PUB, 0xAB, SUB_A, 0xCD, False)]
    assert (first.messages, first.dropped) == (1, 3)
    m.feed([sent(7, 9, msg(9), dropped=3), received(SUB_A, msg(9))])
    second = m.take()[LinkId(PUB, 0xAB, SUB_A, 0xCD, False)]
    assert (second.messages, second.dropped) == (1, 3)


def test_messages_of_one_length_with_other_bytes_do_not_pair():
    m = matcher()
    a, b = bytes(100) + b'AAAAAAAA', bytes(100) + b'BBBBBBBB'
    m.feed([sent(7, 1, a, t=1000), sent(7, 2, b, t=2000)])
    m.feed([received(SUB_A, b, t=2000)])
    link = m.take()[LinkId(PUB, 0xAB, SUB_A, 0xCD, False)]
    assert link.messages == 1 and link.stages['transport'].sum_ns == 200


def test_intra_process_has_end_to_end_and_no_transport():
    m = matcher()
    ev = event(EVENT_RECEIVED, tgid=SUB_A, kind=KIND_INTRA, object=0xCD, publication=0xAB,
               t_publish=1000, t_received=1100, t_done=1500, payload=b'')
    m.feed([ev])
    link = m.take()[LinkId(SUB_A, 0xAB, SUB_A, 0xCD, True)]
    assert link.link.intra and link.messages == 1
    assert link.stages['end_to_end'].sum_ns == 500
    assert link.stages['transport'].count == 0


def test_unknown_socket_counts_unmatched():
    m = matcher()
    m.feed([received(SUB_A, msg(1), fd=42)])
    assert m.take() == {} and m.unmatched == 1


def test_messages_for_an_untraced_subscriber_are_freed_and_not_kept_again():
    from rostrace.model.matching import UNCONFIRMED_NS
    m = matcher()
    m.feed([sent(7, n, msg(n), t=n * 1000) for n in range(1, 101)])     # to A, never read
    m.take()
    assert m.pending_count() == 100                     # young: A may still read them
    m.feed([sent(8, 1, msg(1), t=UNCONFIRMED_NS + 10**9)])             # time passes (to B)
    m.take()
    assert m.pending_count() == 1                       # A's 100 freed, B's one kept
    m.feed([sent(7, n, msg(n), t=UNCONFIRMED_NS + 2 * 10**9) for n in range(101, 201)])
    assert m.pending_count() == 1                       # A's connection is ignored now
    m.subscriber_added()                                # ... until a subscriber is traced
    m.feed([sent(7, 201, msg(201), t=UNCONFIRMED_NS + 3 * 10**9)])
    m.feed([received(SUB_A, msg(201), t=UNCONFIRMED_NS + 3 * 10**9)])
    assert m.take()                                     # and then it is matched


def test_a_confirmed_connection_is_never_pruned():
    from rostrace.model.matching import UNCONFIRMED_NS
    m = matcher()
    m.feed([sent(7, 1, msg(1)), received(SUB_A, msg(1)), sent(7, 2, msg(2))])
    m.feed([sent(8, 1, msg(1), t=UNCONFIRMED_NS * 3)])
    m.take()
    m.feed([received(SUB_A, msg(2))])
    assert sum(link.messages for link in m.take().values()) == 1


def test_a_matched_connection_is_handed_to_the_kernel_once_and_again_after_unpair():
    """Both ends ((pid, fd) each) of a connection it paired a message on go to on_pair
    once; after unpair (the kernel dropped it) the next pairing hands it over again."""
    pairs = []
    m = TransportMatcher(lambda pid, fd: SOCKETS.get((pid, fd)),
                         on_pair=lambda sub, pub, conn: pairs.append((sub, pub, conn)))
    m.feed([sent(7, n, msg(n), t=n * 1000) for n in (1, 2)] + [sent(8, 1, msg(1))])
    m.feed([received(SUB_A, msg(1), t=1000), received(SUB_A, msg(2), t=2000)])
    assert pairs == [((SUB_A, 9), (PUB, 7), (A_ADDR, PUB_ADDR))]
    m.unpair((A_ADDR, PUB_ADDR))
    m.feed([sent(7, 3, msg(3), t=3000), received(SUB_A, msg(3), t=3000)])
    assert len(pairs) == 2 and pairs[1] == pairs[0]
