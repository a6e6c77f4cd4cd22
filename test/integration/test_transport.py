"""Across processes (issue 7): serialization, outgoing queue and its drops, transport and
end-to-end latency per (publisher, subscriber, topic), intra-process delivery — real
roscore, real roscpp scenario nodes, real probes, compared with the nodes' own truth.

Truth per message: the publisher writes sent_ns (CLOCK_MONOTONIC right before
publish()) into the message and its truth file; the subscriber's receipt is its
callback start minus its wait (roscpp's receipt time). Same host, same clock.
"""
import statistics
import time

import pytest

from harness import PY, count_rows, read_csv, wait_for
from tracing import US, breakpoints, node_pid, publish, receive_breakpoints

from rostrace.model.numbers import Window
from rostrace.system.symbols import PUBLISH_POINTS, RECEIVE_POINTS
from rostrace.system.rosapi import Master



class Totals:
    """Numbers of every window since attach, merged (what a run summary shows)."""

    def __init__(self, tracer):
        self.tracer = tracer
        self.window = Window(window_s=0.0)

    def collect(self):
        self.window.merge(self.tracer.collect())

    def breakdown(self, node, topic):
        """TopicBreakdown of `topic` in subscriber `node`, or None."""
        self.collect()
        for b in self.tracer.build(self.window):
            if b.node == node and b.topic == topic:
                return b
        return None

    def links(self, node, topic):
        """{publisher node: LinkBreakdown} for `topic` in subscriber `node`."""
        b = self.breakdown(node, topic)
        return {link.publisher: link for link in b.links} if b else {}


def trace_publishers(tracer, ros, publishers):
    """Follow the publishers until `publishers` are traced (as the monitor does once a
    second): a node just started may not have registered its publication yet."""
    master = Master(ros.master_uri)

    def traced():
        tracer.follow_publishers(master)
        return set(publishers) <= {t.node for t in tracer.publisher_targets.values()}
    wait_for(traced, timeout=30, interval=0.2,
             what=f'publishers {publishers} traced ({tracer.publisher_notes})')


def follow(tracer, ros, subscribers, publishers):
    master = Master(ros.master_uri)
    for node in subscribers:
        tracer.attach_node(node, master=master)
    trace_publishers(tracer, ros, publishers)
    totals = Totals(tracer)
    totals.attached_ns = time.monotonic_ns()       # CLOCK_MONOTONIC, as the truth files
    return totals


def assert_attached_first(totals, *pub_truths):
    """Precondition: every probe was in place before the first message was published
    (attaching a uprobe briefly takes the mmap lock of every process that maps
    libroscpp, which would show up as latency in messages sent meanwhile)."""
    first = min(r['pub_start_ns'] for path in pub_truths for r in read_csv(path))
    assert first > totals.attached_ns, 'publishing began before attaching ended: raise start_delay'


def wait_rows(totals, path, n, timeout=60):
    def enough():
        totals.collect()            # keep draining the ring buffer meanwhile
        return count_rows(path) >= n
    wait_for(enough, timeout=timeout, interval=0.5, what=f'{n} rows in {path}')


def truth_transport(pub_rows, sub_rows):
    """Per message (by seq): receipt in the subscriber - sent_ns in the publisher, and
    callback end - sent_ns, in seconds."""
    sent = {r['seq']: r['pub_start_ns'] for r in pub_rows}
    transport, e2e = [], []
    for r in sub_rows:
        if r['seq'] in sent:
            transport.append((r['cb_start_ns'] - r['wait_ns'] - sent[r['seq']]) * 1e-9)
            e2e.append((r['cb_end_ns'] - sent[r['seq']]) * 1e-9)
    return transport, e2e


def assert_close(measured, truth, what, *, rel, floor_s):
    bound = max(rel * truth, floor_s)
    print(f'\n{what}: rostrace {measured * 1e3:.4f} ms, truth {truth * 1e3:.4f} ms '
          f'(bound {bound * 1e3:.3f} ms)')
    assert abs(measured - truth) <= bound, (
        f'{what}: rostrace {measured * 1e3:.3f} ms vs truth {truth * 1e3:.3f} ms')


@pytest.mark.parametrize('stamped', [False, True], ids=['payload', 'with_header'])
def test_transport_and_end_to_end_match_truth(ros, session, tmp_path, stamped):
    sub_truth, pub_truth = str(tmp_path / 'sub.csv'), str(tmp_path / 'pub.csv')
    ros.node('processing', 'sub', params={'work_ms': 1.0, 'stamped': stamped,
                                          'truth_file': sub_truth})
    publish(ros, 'pub', '/processing/data', count=300, rate=100, size=512, stamped=stamped,
            start_delay=5.0, truth_file=pub_truth)
    totals = follow(session, ros, ['/sub'], ['/pub'])
    wait_rows(totals, sub_truth, 300)
    time.sleep(0.5)

    assert_attached_first(totals, pub_truth)
    link = totals.links('/sub', '/processing/data')['/pub']
    assert not link.intra_process
    assert (link.messages, link.dropped) == (300, 0)
    stages = link.stages
    assert stages['serialization'].count == stages['transport'].count == 300
    assert 0 < stages['serialization'].mean < stages['transport'].mean
    assert 0 < stages['publish_queue'].mean < stages['transport'].mean
    transport, e2e = truth_transport(read_csv(pub_truth), read_csv(sub_truth))
    assert len(transport) == 300
    assert_close(stages['transport'].mean, statistics.mean(transport), 'transport',
                 rel=0.10, floor_s=40 * US)
    assert_close(stages['end_to_end'].mean, statistics.mean(e2e), 'end-to-end',
                 rel=0.03, floor_s=60 * US)
    # Per PID: the publisher carries only the publish probes, the subscriber only the
    # receive probes, and detaching restores every byte.
    pub_pid, sub_pid = node_pid(ros, '/pub'), node_pid(ros, '/sub')
    assert (breakpoints(pub_pid), receive_breakpoints(sub_pid)) == (
        PUBLISH_POINTS, RECEIVE_POINTS - {'queue_call'})
    session.detach(pub_pid)
    session.detach(sub_pid)
    assert breakpoints(pub_pid) == breakpoints(sub_pid) == set()


def test_three_publishers_two_subscribers(ros, session, tmp_path):
    counts = {'/p1': 150, '/p2': 200, '/p3': 250}
    sizes = {'/p1': 100, '/p2': 200, '/p3': 300}       # tells publishers apart in truth
    truths = {s: str(tmp_path / f'{s[1:]}.csv') for s in ('/s1', '/s2')}
    for sub, path in truths.items():
        ros.node('processing', sub[1:], params={'work_ms': 0.5, 'truth_file': path,
                                                'queue_size': 1000})
    pub_truth = {}
    for pub, n in counts.items():
        pub_truth[pub] = str(tmp_path / f'{pub[1:]}.csv')
        publish(ros, pub[1:], '/processing/data', count=n, rate=50, size=sizes[pub],
                wait_subscribers=2, start_delay=8.0, truth_file=pub_truth[pub])
    totals = follow(session, ros, list(truths), list(counts))
    for path in truths.values():
        wait_rows(totals, path, sum(counts.values()))
    time.sleep(0.5)
    assert_attached_first(totals, *pub_truth.values())

    for sub, path in truths.items():
        links = totals.links(sub, '/processing/data')
        assert set(links) == set(counts), links
        rows = read_csv(path)
        for pub, n in counts.items():
            mine = [r for r in rows if r['size'] == sizes[pub]]
            link = links[pub]
            assert (link.messages, link.dropped, len(mine)) == (n, 0, n), (sub, pub)
            transport, _ = truth_transport(read_csv(pub_truth[pub]), mine)
            assert_close(link.stages['transport'].mean, statistics.mean(transport),
                         f'{pub} -> {sub} transport', rel=0.15, floor_s=60 * US)


def publish_in_ns(ros, veth, name, **params):
    return ros.node('publisher', name, params={'topic': '/processing/data',
                                               'wait_subscribers': 1, **params},
                    prefix=veth.prefix, env={'ROS_IP': veth.ns_ip})


def serialized_bytes(size):
    """rostrace/Payload on the wire: length prefix, seq, sent_ns, data length, data."""
    return 4 + 8 + 8 + 4 + size


# The rate-limited link (tc tbf on a veth): a message goes as TCP segments of at most
# MSS bytes (MTU 1500 with TCP timestamps), each an Ethernet frame with FRAME_HEADERS
# more, and the first LINK_BURST bytes after an idle link pass at once. A burst of two
# frames (tbf's minimum here) made the qdisc wake a timer every other frame, and on an
# idle VM each wake-up came late: 200 kB took 85-106 ms against a model of 82.5 (a
# socket pair across the veth, no ROS); with ten frames 78.1-78.8 against 77.6.
MSS, FRAME_HEADERS = 1448, 66
LINK_BURST = 10 * (MSS + FRAME_HEADERS)


def shaped_s(size, rate_bit_s, burst=LINK_BURST):
    """Seconds the rate limit takes to pass a message of `size` data bytes: its frames'
    bytes past the burst, at the rate."""
    data = serialized_bytes(size)
    wire = data + -(-data // MSS) * FRAME_HEADERS
    return max(wire - burst, 0) * 8 / rate_bit_s


def test_transport_over_rate_limited_link(ros_veth, veth, session, tmp_path):
    ros = ros_veth
    size, rate_bit_s = 200_000, 20_000_000
    sub_truth = str(tmp_path / 'sub.csv')
    ros.node('processing', 'sub', params={'work_ms': 0.0, 'truth_file': sub_truth})
    # Base: the same messages over the unlimited link.
    base_truth = str(tmp_path / 'base.csv')
    publish_in_ns(ros, veth, 'pbase', count=20, rate=4, size=size, start_delay=3.0,
                  truth_file=base_truth)
    totals = follow(session, ros, ['/sub'], ['/pbase'])
    wait_rows(totals, sub_truth, 20)
    time.sleep(0.5)
    base_link = totals.links('/sub', '/processing/data')['/pbase']
    assert base_link.messages == 20
    base = base_link.stages['transport'].mean
    base_truth_t, _ = truth_transport(read_csv(base_truth), read_csv(sub_truth))
    assert_close(base, statistics.mean(base_truth_t), 'base transport',
                 rel=0.10, floor_s=100 * US)

    veth.limit(rate_bit_s, burst_bytes=LINK_BURST)
    slow_truth = str(tmp_path / 'slow.csv')
    publish_in_ns(ros, veth, 'pslow', count=20, rate=4, size=size + 1, start_delay=3.0,
                  truth_file=slow_truth)
    trace_publishers(session, ros, ['/pslow'])
    wait_rows(totals, sub_truth, 40)
    time.sleep(0.5)
    link = totals.links('/sub', '/processing/data')['/pslow']
    assert (link.messages, link.dropped) == (20, 0)
    expected = shaped_s(size + 1, rate_bit_s) + base
    measured = link.stages['transport']
    rows = [r for r in read_csv(sub_truth) if r['size'] == size + 1]
    slow_t, _ = truth_transport(read_csv(slow_truth), rows)
    print(f'\ntransport over {rate_bit_s / 1e6:.0f} Mbit/s: rostrace mean {measured.mean * 1e3:.2f}'
          f' ms, p50 {measured.p50 * 1e3:.2f} ms; truth median '
          f'{statistics.median(slow_t) * 1e3:.2f} ms; shaped + base = {expected * 1e3:.2f} ms')
    # The link shapes as modelled (on the median: one message delayed by a busy CPU
    # moved a CI run's mean 10.6 % above the model while rostrace matched the truth).
    assert abs(statistics.median(slow_t) - expected) <= 0.10 * expected
    # rostrace sees the shaping: its p50 is the truth's within the histogram's resolution
    assert abs(measured.p50 - statistics.median(slow_t)) <= (1 / 16 + 0.02) * expected
    assert_close(measured.mean, statistics.mean(slow_t), 'transport vs truth', rel=0.03,
                 floor_s=200 * US)
    # Split (issue 14): the shaping is the network's (to the message's last byte), the
    # subscriber read it as it came (no socket wait to speak of).
    network, socket_wait = link.stages['network'], link.stages['socket_wait']
    expected_network = shaped_s(size + 1, rate_bit_s) + base_link.stages['network'].mean
    print(f'network p50 {network.p50 * 1e3:.2f} ms (shaped + base {expected_network * 1e3:.2f}'
          f' ms, {network.count} messages), socket wait mean {socket_wait.mean * 1e3:.3f} ms')
    assert network.count >= 15
    assert abs(network.p50 - expected_network) <= 0.10 * expected_network
    assert socket_wait.mean < 0.02 * expected_network


def test_outgoing_queue_drops_counted_exactly(ros_veth, veth, session, tmp_path):
    """A publisher much faster than the link: roscpp's outgoing queue (queue_size 2)
    tosses the oldest messages; each one counted once, against the publisher."""
    ros = ros_veth
    sub_truth, pub_truth = str(tmp_path / 'sub.csv'), str(tmp_path / 'pub.csv')
    ros.node('processing', 'sub', params={'work_ms': 0.0, 'truth_file': sub_truth,
                                          'queue_size': 1000})
    veth.limit(8_000_000, limit_bytes=200_000)
    publish_in_ns(ros, veth, 'pfast', count=200, rate=100, size=50_000, queue_size=2,
                  start_delay=3.0, truth_file=pub_truth)
    totals = follow(session, ros, ['/sub'], ['/pfast'])
    wait_rows(totals, pub_truth, 200)

    def settled():          # the link drained: nothing new arrives for 2 s
        n = count_rows(sub_truth)
        totals.collect()
        time.sleep(2.0)
        return n > 0 and count_rows(sub_truth) == n
    wait_for(settled, timeout=120, interval=0.1, what='the link to drain')

    rows = read_csv(sub_truth)
    received = len(rows)
    link = totals.links('/sub', '/processing/data')['/pfast']
    print(f'\npublished 200, received {received}, rostrace: {link.messages} messages, '
          f'{link.dropped} dropped in the outgoing queue')
    assert 0 < received < 200, 'the link did not make the publisher drop'
    assert rows[-1]['seq'] == 200          # the newest always survives
    assert sum(r['gap'] for r in rows) == 200 - received
    assert (link.messages, link.dropped) == (received, 200 - received)
    sub = next(b for b in session.build(totals.window)
               if b.node == '/sub' and b.topic == '/processing/data')
    assert sub.dropped == 0                 # none of it was the subscriber's queue


@pytest.mark.parametrize('shared_ptr', [False, True], ids=['serialized', 'no_copy'])
def test_self_subscription_is_intra_process(ros, session, tmp_path, shared_ptr):
    pub_truth, self_truth = str(tmp_path / 'pub.csv'), str(tmp_path / 'self.csv')
    publish(ros, 'selfpub', '/selfpub/data', count=200, rate=100, start_delay=3.0,
            self_subscribe=True, shared_ptr=shared_ptr, truth_file=pub_truth,
            self_truth_file=self_truth)
    totals = follow(session, ros, ['/selfpub'], ['/selfpub'])
    wait_rows(totals, self_truth, 200)
    time.sleep(0.5)
    links = totals.links('/selfpub', '/selfpub/data')
    assert list(links) == ['/selfpub']
    link = links['/selfpub']
    assert link.intra_process and link.messages == 200
    for stage in ('transport', 'publish_queue'):
        assert not link.stages[stage].available, stage
        assert link.stages[stage].count == 0
    assert link.stages['serialization'].available == (not shared_ptr)
    _, e2e = truth_transport(read_csv(pub_truth), read_csv(self_truth))
    assert_close(link.stages['end_to_end'].mean, statistics.mean(e2e), 'intra end-to-end',
                 rel=0.10, floor_s=40 * US)


def test_monitor_publishes_links_and_thresholds_them(ros, tmp_path):
    """The monitor node: PublisherLink entries in LatencyBreakdown (rostopic echo) and a
    transport threshold crossing in /diagnostics, naming the publisher."""
    from monitoring import echo, echoed, start_monitor, statuses, write_config
    config = write_config(tmp_path / 'm.yaml', '''
publish_rate: 2
window: 120
targets:
  - node: /sub
    thresholds: {transport: {warn: 0.001}, end_to_end: {error: 1000}}
''')
    sub_truth = str(tmp_path / 'sub.csv')
    ros.node('processing', 'sub', params={'work_ms': 0.5, 'truth_file': sub_truth})
    latency = echo(ros, '/rostrace/latency', 'echo_latency')
    diagnostics = echo(ros, '/diagnostics', 'echo_diagnostics')
    monitor = start_monitor(ros, config, attached=['/sub'])
    publish(ros, 'pub', '/processing/data', count=200, rate=100, start_delay=4.0)
    wait_for(lambda: 'publisher side attached to /pub' in open(monitor.log_path).read(),
             timeout=30, what='the publisher side to attach')
    wait_for(lambda: count_rows(sub_truth) >= 200, timeout=60, interval=0.5,
             what='200 callbacks')
    time.sleep(1.5)
    msg = [m for m in echoed(latency) if m['topic'] == '/processing/data'][-1]
    (link,) = msg['publishers']
    assert (link['publisher'], link['intra_process'], link['messages'], link['dropped']) == \
        ('/pub', False, 200, 0)
    for stage in ('serialization', 'publish_queue', 'transport', 'end_to_end'):
        assert link[stage]['available'] and link[stage]['count'] == 200, stage
    assert link['transport']['mean'] < link['end_to_end']['mean']
    # The split (kernel-matched messages: all but the connection's first window's).
    for stage in ('network', 'socket_wait', 'network_idle', 'socket_wait_starved'):
        assert link[stage]['available'] and 100 <= link[stage]['count'] <= 200, stage
    assert link['network']['mean'] + link['socket_wait']['mean'] < link['transport']['mean']
    status = statuses(diagnostics, 'rostrace: /sub /processing/data')[-1]
    assert status['level'] == 1, status
    assert 'transport from /pub p99' in status['message']
    values = {v['key']: v['value'] for v in status['values']}
    assert values['from /pub messages'] == '200'
    assert float(values['from /pub socket_wait mean (ms)']) > 0
    assert 'from /pub socket_wait_starved share (%)' in values


# -- issue 14: transport split into network and socket wait, and why the socket waited --
SUB_CPU, PUB_CPU = '1', '0'


def total(stats):
    return stats.mean * stats.count


def one_link(ros, session, tmp_path, name, *, count=150, rate=50, during=None, **sub_params):
    """A subscriber pinned to SUB_CPU fed by a publisher pinned to PUB_CPU; `during()`
    starts what disturbs the subscriber once everything is attached. -> (TopicBreakdown,
    its link, truth transport per message in s)."""
    sub_truth, pub_truth = str(tmp_path / f'{name}_sub.csv'), str(tmp_path / f'{name}_pub.csv')
    ros.node('processing', f'{name}_sub', params={'work_ms': 0.2, 'truth_file': sub_truth,
                                                  'queue_size': 1000, **sub_params},
             prefix=('taskset', '-c', SUB_CPU))
    ros.node('publisher', f'{name}_pub', params={
        'topic': '/processing/data', 'wait_subscribers': 1, 'count': count, 'rate': rate,
        'size': 256, 'start_delay': 6.0, 'truth_file': pub_truth},
        prefix=('taskset', '-c', PUB_CPU))
    totals = follow(session, ros, [f'/{name}_sub'], [f'/{name}_pub'])
    disturbance = during() if during else None
    wait_rows(totals, sub_truth, count, timeout=90)
    time.sleep(0.5)
    assert_attached_first(totals, pub_truth)
    if disturbance is not None:
        disturbance.kill()
        disturbance.wait()
    b = totals.breakdown(f'/{name}_sub', '/processing/data')
    link = {link.publisher: link for link in b.links}[f'/{name}_pub']
    transport, _ = truth_transport(read_csv(pub_truth), read_csv(sub_truth))
    s = link.stages
    for k in ('network', 'socket_wait', 'publish_queue'):
        print(f'  {k} split: ' + ', '.join(f'{part} {link.share(f"{k}_{part}"):.2f}'
                                           for part in ('busy', 'starved', 'idle')))
    print(f'\n{name}: transport {s["transport"].mean * 1e3:.3f} ms (truth '
          f'{statistics.mean(transport) * 1e3:.3f}) = serialization '
          f'{s["serialization"].mean * 1e3:.3f} + out queue {s["publish_queue"].mean * 1e3:.3f}'
          f' + network {s["network"].mean * 1e3:.3f} + socket wait '
          f'{s["socket_wait"].mean * 1e3:.3f} ms (counts {s["transport"].count}, '
          f'{s["network"].count}, {s["socket_wait"].count}); socket wait split '
          + ', '.join(f'{k} {total(s[f"socket_wait_{k}"]) / max(total(s["socket_wait"]), 1e-12):.2f}'
                      for k in ('busy', 'starved', 'idle'))
          + '; out queue split ' + ', '.join(
              f'{k} {link.share(f"publish_queue_{k}"):.2f}' for k in ('busy', 'starved', 'idle')))
    for k in ('network', 'socket_wait', 'transport'):
        print(f'  {k}: p50 {s[k].p50 * 1e3:.3f} p90 {s[k].p90 * 1e3:.3f} p99 '
              f'{s[k].p99 * 1e3:.3f} max {s[k].max * 1e3:.3f} ms')
    assert link.messages == count
    # Messages matched in the kernel (all but the connection's first window, which user
    # space matches) have their arrival in our socket, and the parts add up.
    assert s['network'].count == s['socket_wait'].count >= 0.7 * s['transport'].count
    parts = sum(s[k].mean for k in ('serialization', 'publish_queue', 'network', 'socket_wait'))
    assert_close(parts, s['transport'].mean, 'serialization + out queue + network + '
                 'socket wait vs transport', rel=0.10, floor_s=50 * US)
    assert_close(s['transport'].mean, statistics.mean(transport), 'transport vs truth',
                 rel=0.10, floor_s=60 * US)
    return b, link, transport


def fifo_hog(ros):
    """SCHED_FIFO busy loop on SUB_CPU, 40 ms on / 60 ms off (RT throttling would stop
    a loop that never sleeps after 950 ms of each second)."""
    return ros.spawn(['chrt', '-f', '50', 'taskset', '-c', SUB_CPU, PY, '-c',
                      'import time\nwhile True:\n    t = time.monotonic()\n'
                      '    while time.monotonic() - t < 0.04: pass\n    time.sleep(0.06)'],
                     'fifo_hog')


def test_starved_subscriber_is_socket_wait_not_network(ros, session, tmp_path):
    from rostrace.views.diagnostics import topic_status
    _, calm, _ = one_link(ros, session, tmp_path, 'calm')
    s = calm.stages
    # Nothing in the way: the message is read as it arrives (the poll thread's wake-up
    # and roscpp's read: 0.1-0.5 ms on these VMs, whatever else the machine runs), the
    # network is loopback's. (Checked against the hogged run below.)
    assert s['socket_wait'].mean < 1e-3
    assert s['network'].mean < 0.25e-3
    calm_starved = total(s['network_starved']) + total(s['socket_wait_starved'])
    calm_starved /= s['network'].count

    b, hogged, truth = one_link(ros, session, tmp_path, 'hogged', during=lambda: fifo_hog(ros))
    s = hogged.stages
    starved_share = hogged.transport_share(('network_starved', 'socket_wait_starved'))
    print(f'hogged: starved share of transport {starved_share:.3f}')
    assert s['transport'].mean > 2e-3, 'the hog did not delay the messages'
    assert starved_share >= 0.80
    hogged_starved = (total(s['network_starved']) + total(s['socket_wait_starved'])) \
        / s['network'].count
    print(f'waiting for CPU per message: calm {calm_starved * 1e3:.3f} ms, hogged '
          f'{hogged_starved * 1e3:.3f} ms')
    assert calm_starved < 0.1 * hogged_starved
    # The rest is plausible: what the network took while our poll thread was not
    # waiting for CPU is loopback's (the starved part is Nagle's algorithm holding the
    # next message in the publisher's kernel until the starved subscriber acknowledges
    # the previous one).
    assert (total(s['network']) - total(s['network_starved'])) / s['network'].count < 0.25e-3
    assert s['serialization'].mean < 0.25e-3
    status = topic_status(b, {})
    print(status.message)
    assert 'waiting for CPU' in status.message and '/hogged_pub' in status.message


def test_busy_poll_thread_is_socket_wait_not_network(ros, session, tmp_path):
    """A thread of the subscriber that only spins, on the subscriber's one CPU: roscpp's
    poll thread gets the CPU late (runqueue), the message waits in the socket."""
    _, link, _ = one_link(ros, session, tmp_path, 'busy', busy_threads=3)
    s = link.stages
    assert s['socket_wait'].mean > 3 * s['network'].mean
    waiting = total(s['socket_wait_starved']) + total(s['socket_wait_busy'])
    assert waiting >= 0.8 * total(s['socket_wait'])


def test_a_four_byte_message_is_matched_to_its_sender(ros, session):
    """Most 4-byte reads are TCPROS length prefixes, which the kernel keeps in a slot per
    thread instead of its buffer map (probes/bpf/transport.c recv_slots): a message whose
    whole body is 4 bytes (std_msgs/Int32) is still found at its push and matched to its
    sender -- Debian's topic_tools relay publishing it to another relay."""
    ros.spawn(['rostopic', 'pub', '-r', '50', '/tiny_in', 'std_msgs/Int32', 'data: 7',
               '__name:=tiny_source'], 'tiny_source')
    ros.spawn(['rosrun', 'topic_tools', 'relay', '/tiny_in', '/tiny', '__name:=tiny_relay'],
              'tiny_relay')
    ros.spawn(['rosrun', 'topic_tools', 'relay', '/tiny', '/tiny_out', '__name:=tiny_sink'],
              'tiny_sink')
    master = Master(ros.master_uri)
    for node, topic in (('/tiny_relay', '/tiny_in'), ('/tiny_sink', '/tiny')):
        ros.wait_node(node, timeout=30)
        wait_for(lambda: topic in master.subscriptions(node), timeout=30,
                 what=f'{node} subscribed to {topic}')
    totals = follow(session, ros, ['/tiny_sink'], ['/tiny_relay'])

    def matched():
        link = totals.links('/tiny_sink', '/tiny').get('/tiny_relay')
        return link is not None and link.messages >= 100
    wait_for(matched, timeout=30, interval=0.5, what='100 Int32 messages matched')
    b = totals.breakdown('/tiny_sink', '/tiny')
    link = {x.publisher: x for x in b.links}['/tiny_relay']
    print(f'\n4-byte messages: {b.processed} processed, {link.messages} matched, transport '
          f'mean {link.stages["transport"].mean * 1e6:.0f} us')
    # All but those in flight at the window's edge (and the first, matched in user space).
    assert link.messages >= b.processed - 3
    assert link.stages['transport'].available and link.stages['transport'].count > 0
