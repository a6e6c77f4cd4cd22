"""Many hosts (issue 18): one monitor per host on one master. Two hosts are simulated
by PID + mount + UTS namespaces (each monitor sees only its own host's processes) and
two network namespaces joined by a veth pair, rate-limited with tc tbf.

Also (one master, two monitors): both hosts' statuses in one aggregator tree (rostrace's
analyzers added to the robot's running aggregator with add_analyzers), and a real
Prometheus scraping both monitors.

Truth: both simulated hosts share this machine's CLOCK_MONOTONIC, so the publisher's
send time and the subscriber's receipt (their truth files) give each message's true
transport, whatever the hosts' wall clocks say. Host B's monitor runs with its wall
clock shifted by libfaketime: rostrace must find that offset, say how sure it is, and
still measure the transport.
"""
import os
import signal
import statistics

import pytest

from harness import RosSystem, count_rows, free_port, read_csv, read_log, stop_process, wait_for
from hosts import SimulatedHost
from monitoring import echo, echoed, rosdiagnostic, write_config
from netns import VethPair
from test_metrics import promql
from test_transport import LINK_BURST, shaped_s, truth_transport

FAKETIME_LIB = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1'
SHIFT_S = 0.5               # host B's wall clock is this much ahead
TOPIC = '/processing/data'


@pytest.fixture
def two_hosts():
    veth = VethPair()
    hosts = []
    try:
        ros = RosSystem(ros_ip=veth.host_ip).start()
        hosts = [SimulatedHost('hostA'), SimulatedHost('hostB', netns=veth.ns)]
        yield ros, veth, *hosts
    finally:
        if 'ros' in locals():
            ros.shutdown()
        for host in hosts:
            host.close()
        veth.close()


def monitor(ros, host, config, name, metrics_port, env=None):
    return ros.node('rostrace_monitor', name, prefix=host.prefix, env=env,
                    params={'config': config, 'metrics_port': metrics_port})


ROBOT_AGGREGATOR = """<launch>
  <node pkg="diagnostic_aggregator" type="aggregator_node" name="diag_agg">
    <rosparam param="analyzers">
      motors: {type: diagnostic_aggregator/GenericAnalyzer, path: Motors, startswith: [motor]}
    </rosparam>
  </node>
</launch>
"""


def start_prometheus(ros, tmp_path, targets):
    port = free_port()
    config = tmp_path / 'prometheus.yml'
    config.write_text('global: {scrape_interval: 1s, evaluation_interval: 1s}\n'
                      'scrape_configs:\n  - job_name: rostrace\n'
                      f'    static_configs: [{{targets: {list(targets)}}}]\n')
    ros.spawn(['prometheus', f'--config.file={config}', f'--storage.tsdb.path={tmp_path / "tsdb"}',
               f'--web.listen-address=127.0.0.1:{port}'], 'prometheus')
    return port


def query(port, text):
    return wait_for(lambda: promql(port, text), timeout=60, interval=1.0, what=text)


def last_link(latency, publisher):
    for msg in reversed(echoed(latency)):
        if msg['topic'] != TOPIC:
            continue
        for link in msg['publishers']:
            if link['publisher'] == publisher:
                return link
    return None


def test_link_across_hosts_with_a_shifted_clock(two_hosts, tmp_path):
    ros, veth, host_a, host_b = two_hosts
    size, rate_bit_s = 200_000, 20_000_000
    sub_truth = str(tmp_path / 'sub.csv')
    ros.node('processing', 'listener', params={'work_ms': 0.0, 'truth_file': sub_truth},
             prefix=host_b.prefix, env={'ROS_IP': veth.ns_ip})
    config_a = write_config(tmp_path / 'a.yaml', 'publish_rate: 1\nwindow: 300\ntargets:\n'
                            '  - node: /pbase\n  - node: /pslow\n')
    config_b = write_config(tmp_path / 'b.yaml', 'publish_rate: 1\nwindow: 300\ntargets:\n'
                            '  - node: /listener\n')
    latency = echo(ros, '/rostrace/latency', 'echo_latency')
    echo(ros, '/rostrace/peers', 'echo_peers')      # for the logs
    launch = tmp_path / 'robot.launch'
    launch.write_text(ROBOT_AGGREGATOR)
    ros.spawn(['roslaunch', str(launch)], 'robot_aggregator')
    ros.wait_node('/diag_agg', timeout=30)
    ros.spawn(['roslaunch', 'rostrace', 'analyzers.launch'], 'rostrace_analyzers')
    port_a, port_b = free_port(), free_port()
    mon_a = monitor(ros, host_a, config_a, 'monitor_a', port_a)
    mon_b = monitor(ros, host_b, config_b, 'monitor_b', port_b, env={
        'ROS_IP': veth.ns_ip, 'LD_PRELOAD': FAKETIME_LIB, 'FAKETIME': f'+{SHIFT_S}',
        'FAKETIME_NO_CACHE': '1'})
    wait_for(lambda: 'attached to /listener' in read_log(mon_b), timeout=60,
             what='monitor B to attach')

    def publish(name, n_size, truth):
        return ros.node('publisher', name, prefix=host_a.prefix, params={
            'topic': TOPIC, 'wait_subscribers': 1, 'count': 20, 'rate': 4, 'size': n_size,
            'start_delay': 8.0, 'truth_file': truth})

    base_truth = str(tmp_path / 'base.csv')
    publish('pbase', size, base_truth)
    wait_for(lambda: count_rows(sub_truth) >= 20, timeout=60, interval=0.5, what='20 messages')
    base_link = wait_for(lambda: (lambda l: l if l and l['messages'] == 20 else None)(
        last_link(latency, '/pbase')), timeout=30, what='the base link from host A')
    base = statistics.mean(truth_transport(read_csv(base_truth), read_csv(sub_truth))[0])

    veth.limit(rate_bit_s, burst_bytes=LINK_BURST, host_side=True)      # A -> B
    slow_truth = str(tmp_path / 'slow.csv')
    publish('pslow', size + 1, slow_truth)
    wait_for(lambda: count_rows(sub_truth) >= 40, timeout=90, interval=0.5, what='40 messages')
    link = wait_for(lambda: (lambda l: l if l and l['messages'] == 20 else None)(
        last_link(latency, '/pslow')), timeout=30, what='the slow link from host A')
    slow, _ = truth_transport(read_csv(slow_truth),
                              [r for r in read_csv(sub_truth) if r['size'] == size + 1])
    expected = shaped_s(size + 1, rate_bit_s) + base
    transport = link['transport']
    print(f"\nbase: rostrace {base_link['transport']['mean'] * 1e3:.2f} ms, truth "
          f"{base * 1e3:.2f} ms; limited: rostrace {transport['mean'] * 1e3:.2f} ms, truth "
          f"{statistics.mean(slow) * 1e3:.2f} ms (median {statistics.median(slow) * 1e3:.2f}, min "
          f"{min(slow) * 1e3:.2f}), shaped + base {expected * 1e3:.2f} ms; clock "
          f"offset {link['clock_offset'] * 1e3:.3f} ms +- "
          f"{link['clock_uncertainty'] * 1e3:.3f} ms (truth {-SHIFT_S * 1e3:.0f} ms)")
    assert link['publisher_host'] == 'hostA' and link['pid'] == 0
    assert abs(link['clock_offset'] + SHIFT_S) <= link['clock_uncertainty'] + 1e-6
    assert link['clock_uncertainty'] < 0.1 * expected
    assert transport['available'] and transport['count'] == 20
    # The link shapes as modelled (the truth's median: one message delayed by a busy CPU
    # moves a mean, test_transport.py), and rostrace's median is the model's.
    assert abs(statistics.median(slow) - expected) <= 0.10 * expected
    assert abs(transport['p50'] - expected) <= 0.10 * expected
    assert abs(transport['mean'] - statistics.mean(slow)) <= \
        link['clock_uncertainty'] + 0.02 * expected
    assert not link['network']['available']     # not split across hosts: said, not 0

    # One master, two monitors: both in the robot's own aggregator, under rostrace's group.
    tree = wait_for(lambda: (lambda out: out if all(
        f'/rostrace/rostrace: monitor {h} - ' in out for h in ('hostA', 'hostB')) else None)(
        rosdiagnostic(ros)), timeout=30, interval=1.0, what='both monitors in the tree')
    assert '/rostrace/rostrace:  listener  processing data' in tree

    # A real Prometheus scrapes both; PromQL's p99 of the listener's processing is the
    # LatencyBreakdown's within the histogram's resolution (one bucket per power of two:
    # both cover every message, the monitor's window being longer than the test).
    prom = start_prometheus(ros, tmp_path, [f'{veth.host_ip}:{port_a}', f'{veth.ns_ip}:{port_b}'])
    assert query(prom, 'count(up{job="rostrace"} == 1) == 2') == 2
    p99 = query(prom, 'histogram_quantile(0.99, rostrace_stage_seconds_bucket{host="hostB",'
                      f'topic="{TOPIC}",stage="processing"}})')
    msg = [m for m in echoed(latency) if m['topic'] == TOPIC][-1]
    print(f"PromQL processing p99 {p99 * 1e6:.1f} us, LatencyBreakdown "
          f"{msg['processing']['p99'] * 1e6:.1f} us")
    assert 0.5 * msg['processing']['p99'] <= p99 <= 2 * msg['processing']['p99']
    assert query(prom, 'rostrace_link_seconds_count{host="hostB",publisher="/pslow",'
                       'publisher_host="hostA",stage="transport"}') == 20
    offset_b = query(prom, 'rostrace_clock_offset_seconds{host="hostB",peer_host="hostA"}')
    offset_a = query(prom, 'rostrace_clock_offset_seconds{host="hostA",peer_host="hostB"}')
    assert abs(offset_b + SHIFT_S) < 0.01 and abs(offset_a - SHIFT_S) < 0.01
    # Below the clock's uncertainty a crossing stage says so instead of a number.
    base_transport, uncertainty = base_link['transport'], base_link['clock_uncertainty']
    if base_transport['available']:
        assert base_transport['mean'] > uncertainty
        assert abs(base_transport['mean'] - base) <= uncertainty + 0.1 * base
    else:
        assert base < 3 * uncertainty, 'a transport well above the uncertainty is measurable'
    for proc in (mon_a, mon_b):         # SIGINT: the monitor detaches (nsenter just ends)
        os.killpg(proc.pid, signal.SIGINT)
        wait_for(lambda: 'detached from' in read_log(proc), timeout=15,
                 what='the monitor to detach')
        stop_process(proc)
