"""Issue 20: links with a rospy end (probes/bpf/publisher.c rospy_sent, rospy.c
rospy_match) — real roscore, rospy and roscpp scenario nodes, real BPF, compared with
the nodes' own truth (time.monotonic_ns() / CLOCK_MONOTONIC) and with a `tc tbf` link's
model.

A rospy publisher's link starts at its socket write (its hand-off is not seen), a rospy
subscriber's ends at the read that took the message's last byte (it has no push): the
truth brackets them — roscpp's receipt (callback start - wait) minus the rospy
publish() call, and the rospy callback's start minus the roscpp publish() call — from
above, by rospy's own serialization or deserialization."""
import statistics
import time

from harness import read_csv

from test_transport import LINK_BURST, follow, shaped_s, truth_transport, wait_rows

ROSPY_WORK_S = 0.5e-3       # rospy's (de)serialization and dispatch of a small message


def rospy_receipts(pub_rows, sub_rows):
    """Per message: the rospy callback's start - the publisher's publish() call, s."""
    sent = {r['seq']: r['pub_start_ns'] for r in pub_rows}
    return [(r['cb_start_ns'] - sent[r['seq']]) * 1e-9 for r in sub_rows if r['seq'] in sent]


def built_link(totals, node, topic, publisher):
    """The LinkBreakdown of `publisher` in `node`'s breakdown of `topic`."""
    totals.collect()
    for b in totals.tracer.build(totals.window):
        if b.node == node and b.topic == topic:
            return next(link for link in b.links if link.publisher == publisher)
    raise AssertionError(f'no breakdown of {topic} in {node}')


def test_links_between_rospy_and_roscpp_match_truth(ros, session, tmp_path):
    """rospy publisher -> roscpp subscriber and roscpp publisher -> rospy subscriber,
    100 messages each at 50 Hz over loopback."""
    csub_truth, rpub_truth = str(tmp_path / 'csub.csv'), str(tmp_path / 'rpub.csv')
    rsub_truth, cpub_truth = str(tmp_path / 'rsub.csv'), str(tmp_path / 'cpub.csv')
    ros.node('processing', 'csub', params={'work_ms': 0.2, 'truth_file': csub_truth,
                                           'topic': '/links/from_rospy'})
    ros.node('rospy_subscriber', 'rsub', params={'work_ms': 0.2, 'truth_file': rsub_truth,
                                                 'topic': '/links/to_rospy'})
    ros.node('rospy_publisher', 'rpub', params={
        'topic': '/links/from_rospy', 'count': 100, 'rate': 50, 'size': 512,
        'wait_subscribers': 1, 'start_delay': 4.0, 'truth_file': rpub_truth})
    ros.node('publisher', 'cpub', params={
        'topic': '/links/to_rospy', 'count': 100, 'rate': 50, 'size': 512,
        'wait_subscribers': 1, 'start_delay': 4.0, 'truth_file': cpub_truth})
    totals = follow(session, ros, ['/csub', '/rsub'], ['/rpub', '/cpub'])
    wait_rows(totals, csub_truth, 100)
    wait_rows(totals, rsub_truth, 100)
    time.sleep(0.5)

    # rospy -> roscpp: every message matched; transport from the socket write.
    link = built_link(totals, '/csub', '/links/from_rospy', '/rpub')
    truth, e2e = truth_transport(read_csv(rpub_truth), read_csv(csub_truth))
    transport, end_to_end = link.stages['transport'], link.stages['end_to_end']
    print(f'\nrospy -> roscpp: {link.messages} messages, transport mean '
          f'{transport.mean * 1e6:.1f} us (truth from publish() {statistics.mean(truth) * 1e6:.1f}),'
          f' network {link.stages["network"].mean * 1e6:.1f} us, socket wait '
          f'{link.stages["socket_wait"].mean * 1e6:.1f} us, end to end '
          f'{end_to_end.mean * 1e6:.1f} us (truth {statistics.mean(e2e) * 1e6:.1f})')
    assert (link.messages, transport.count, len(truth)) == (100, 100, 100)
    assert 0 < statistics.mean(truth) - transport.mean < ROSPY_WORK_S
    assert 0 < statistics.mean(e2e) - end_to_end.mean < ROSPY_WORK_S
    assert link.stages['network'].count >= 90
    for name in ('serialization', 'publish_queue'):
        assert not link.stages[name].available, name
        assert 'rospy publisher' in link.stages[name].reason

    # roscpp -> rospy: one message per read is matched (at 50 Hz, every read has one);
    # transport to the read, before rospy deserializes and calls back.
    link = built_link(totals, '/rsub', '/links/to_rospy', '/cpub')
    truth = rospy_receipts(read_csv(cpub_truth), read_csv(rsub_truth))
    transport = link.stages['transport']
    print(f'roscpp -> rospy: {link.messages} messages, transport mean '
          f'{transport.mean * 1e6:.1f} us (truth to the callback {statistics.mean(truth) * 1e6:.1f}),'
          f' publish queue {link.stages["publish_queue"].mean * 1e6:.1f} us, network '
          f'{link.stages["network"].mean * 1e6:.1f} us, socket wait '
          f'{link.stages["socket_wait"].mean * 1e6:.1f} us')
    assert len(truth) == 100
    assert link.messages >= 95 and transport.count == link.messages
    assert 0 < statistics.mean(truth) - transport.mean < ROSPY_WORK_S
    assert link.stages['publish_queue'].count == link.messages
    assert link.stages['network'].count >= 0.9 * link.messages
    assert not link.stages['end_to_end'].available


def test_rate_limited_links_with_a_rospy_end(ros_veth, veth, session, tmp_path):
    """Acceptance: transport within 10 % of a `tc tbf` link's S*8/R + base, rospy ->
    roscpp and roscpp -> rospy; 200 kB messages (a rospy subscriber reads them in 64 kB
    pieces: the head of each is hashed at its first read)."""
    ros = ros_veth
    size, rate_bit_s = 200_000, 20_000_000
    csub_truth, rsub_truth = str(tmp_path / 'csub.csv'), str(tmp_path / 'rsub.csv')
    # Both ask for TCP_NODELAY (a precaution: the model has no room for Nagle's
    # algorithm holding back a message's last partial segment).
    ros.node('large_messages', 'csub', params={'work_ms': 0.0, 'truth_file': csub_truth,
                                               'topic': '/links/from_rospy'})
    ros.node('rospy_subscriber', 'rsub', params={'work_ms': 0.0, 'truth_file': rsub_truth,
                                                 'topic': '/links/to_rospy',
                                                 'tcp_nodelay': True})
    totals = None

    def run(tag, shaped):
        """Both directions' links after 20 messages each from publishers in the
        namespace (named by `tag`), one direction after the other: two messages on the
        shaped link at once would share its rate (the model is for one)."""
        nonlocal totals
        rpub, cpub = f'rpub_{tag}', f'cpub_{tag}'
        common = {'count': 20, 'rate': 4, 'size': size + shaped, 'wait_subscribers': 1,
                  'start_delay': 4.0}
        env = {'ROS_IP': veth.ns_ip}
        for node, publisher, topic, truth in (
                ('rospy_publisher', rpub, '/links/from_rospy', csub_truth),
                ('publisher', cpub, '/links/to_rospy', rsub_truth)):
            ros.node(node, publisher, params={'topic': topic, **common}, prefix=veth.prefix,
                     env=env)
            if totals is None:
                totals = follow(session, ros, ['/csub', '/rsub'], [f'/{publisher}'])
            else:
                follow(session, ros, [], [f'/{publisher}'])
            wait_rows(totals, truth, 20 * (1 + shaped))
        time.sleep(0.5)
        return (built_link(totals, '/csub', '/links/from_rospy', f'/{rpub}'),
                built_link(totals, '/rsub', '/links/to_rospy', f'/{cpub}'))

    base = run('base', 0)
    veth.limit(rate_bit_s, burst_bytes=LINK_BURST)
    slow = run('slow', 1)
    expected = shaped_s(size + 1, rate_bit_s)
    for name, b, s, least in (('rospy -> roscpp', base[0], slow[0], 20),
                              ('roscpp -> rospy', base[1], slow[1], 18)):
        model = expected + b.stages['transport'].mean
        measured = s.stages['transport']
        print(f'\n{name} over {rate_bit_s / 1e6:.0f} Mbit/s: {s.messages} messages, transport'
              f' mean {measured.mean * 1e3:.2f} ms, p50 {measured.p50 * 1e3:.2f} ms; model '
              f'S*8/R + base = {expected * 1e3:.2f} + {b.stages["transport"].mean * 1e3:.2f}'
              f' ms; network p50 {s.stages["network"].p50 * 1e3:.2f} ms')
        assert b.messages >= least and s.messages >= least
        assert abs(measured.p50 - model) <= 0.10 * model
        assert abs(s.stages['network'].p50 - model) <= 0.10 * model


def test_paths_run_through_rospy_relays(ros, session, tmp_path):
    """roscpp source -> rospy relay -> roscpp sink, twice: a relay publishing inside its
    callback (rospy's default publisher: the send is on the reader thread, linked to
    the message being processed) and one with a publisher queue_size (sent by the
    connection's own thread: linked to the latest message the process read)."""
    from rostrace.model.paths import build_paths
    from tracing import assert_mean_close, publish

    sinks = {}
    for relay, queue_size in (('relay_sync', 0), ('relay_queued', 10)):
        output = f'/rp/{relay}'
        ros.node('rospy_subscriber', relay, params={
            'topic': '/rp/in', 'work_ms': 1.0, 'republish': output,
            'republish_queue_size': queue_size})
        sinks[relay] = str(tmp_path / f'{relay}_sink.csv')
        ros.node('processing', f'{relay}_sink', params={'topic': output, 'work_ms': 0.5,
                                                        'truth_file': sinks[relay]})
    source = str(tmp_path / 'source.csv')
    publish(ros, 'rp_source', '/rp/in', count=100, rate=20, start_delay=4.0,
            wait_subscribers=2, truth_file=source)
    totals = follow(session, ros, ['/relay_sync', '/relay_queued', '/relay_sync_sink',
                                   '/relay_queued_sink'],
                    ['/rp_source', '/relay_sync', '/relay_queued'])
    for path in sinks.values():
        wait_rows(totals, path, 100)
    time.sleep(0.5)
    totals.collect()
    sent = {r['seq']: r['pub_start_ns'] for r in read_csv(source)}
    for relay, path_csv in sinks.items():
        (path,) = build_paths(totals.window, session.attachments.node_name,
                              wanted=[('/rp/in', f'/rp/{relay}')])
        truth = [(r['cb_end_ns'] - sent[r['seq']]) * 1e-9 for r in read_csv(path_csv)]
        print(f'\n{path.name}: {path.count} messages, hops '
              + ' | '.join(f'{h.topic} {h.publisher}->{h.node}' for h in path.hops)
              + f', end to end {path.stages["end_to_end"].mean * 1e3:.3f} ms (truth '
              f'{statistics.mean(truth) * 1e3:.3f} ms)')
        assert [h.node for h in path.hops] == [f'/{relay}', f'/{relay}_sink']
        assert len(truth) == 100 and path.count >= 95
        assert_mean_close(path.stages['end_to_end'].mean, statistics.mean(truth),
                          f'{relay} path end-to-end mean')
