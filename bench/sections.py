"""The benchmark sections. Each takes the shared Bench and returns plain data."""
import ctypes
import itertools
import math
import os
import subprocess
import time
import xmlrpc.client

from harness import PY, REPO, read_csv, read_log, wait_for

from bench.measure import BpfStats, cpu_ns, rss_kib, spread
from rostrace.engine import Tracer
from rostrace.model.histogram import StageStats
from rostrace.probes import abi
from rostrace.probes.calibrate import calibrate_binary, run_loop, target_address
from rostrace.probes.tables import program_runs
from rostrace.system.rosapi import Master
from rostrace.system.targets import target_from_pid

ROUNDS = 3
_names = itertools.count()


def uniq(prefix):
    return f'{prefix}_{next(_names)}'


def node_pid(ros, name):
    _, _, uri = ros.master().lookupNode('/bench', name)
    return xmlrpc.client.ServerProxy(uri).getPid('/bench')[2]


class Bench:
    """The ROS system, one compiled tracer, the tmp dir: shared by every section."""

    def __init__(self, ros):
        self.ros = ros
        self.tracer = Tracer()
        self.tmp = os.path.join(ros.logdir, 'bench')
        os.makedirs(self.tmp, exist_ok=True)
        self.raw = None            # section 1 result, used by section 2

    def path(self, name):
        return os.path.join(self.tmp, name)

    def subscriber(self, name, topic, *, work_ms=0.0, params=None):
        truth = self.path(f'{name}.csv')
        self.ros.node('processing', name, params={'topic': topic, 'work_ms': work_ms,
                                                  'queue_size': 10000, 'truth_file': truth,
                                                  **(params or {})})
        return node_pid(self.ros, '/' + name), truth

    def feed(self, topic, *, rate, count, truths, cpu_pids=()):
        """Publish `count` messages; returns CPU ns used by each of `cpu_pids` meanwhile."""
        before_rows = [len(read_csv(t)) for t in truths]
        before = [cpu_ns(p) for p in cpu_pids]
        pub = self.ros.node('publisher', uniq('bench_pub'), params={
            'topic': topic, 'rate': rate, 'count': count, 'wait_subscribers': len(truths)})
        for t, n in zip(truths, before_rows):
            wait_for(lambda: len(read_csv(t)) >= n + count, timeout=count / rate + 60,
                     interval=0.1, what=f'{count} messages on {topic}')
        used = [cpu_ns(p) - b for p, b in zip(cpu_pids, before)]
        self.ros.stop(pub)
        return used

    def close(self):
        self.tracer.close()


# -- 1. raw probe cost ----------------------------------------------------------------------
def raw_probe_cost(bench, calls=20000, rounds=5):
    path = calibrate_binary()
    address = target_address(path)
    probes = bench.tracer.probes
    proc = subprocess.Popen([path, str(calls)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    proc.stdout.readline()
    per_call = {'untraced': [], 'entry': [], 'entry_return': []}
    try:
        for _ in range(rounds):
            for mode in per_call:
                if mode != 'untraced':
                    probes.attach_calibration(proc.pid, path, address,
                                              with_return=mode == 'entry_return')
                per_call[mode].append(run_loop(proc)['thread_cpu_ns'] / calls)
                probes.detach(proc.pid)
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)
    base = spread(per_call['untraced'])['median']
    entry = [v - base for v in per_call['entry']]
    pair = [v - base for v in per_call['entry_return']]
    bench.raw = {'entry_ns': spread(entry)['median'],
                 'return_ns': spread(pair)['median'] - spread(entry)['median']}
    return {'calls': calls, 'untraced_ns': spread(per_call['untraced']),
            'entry_ns': spread(entry), 'entry_return_ns': spread(pair),
            'return_ns': bench.raw['return_ns'],
            'note': 'function starting with push %rbp, like the roscpp probe points'}


# -- 2. traced-node overhead ----------------------------------------------------------------
def traced_overhead(bench, rates=(100, 1000, 5000), seconds=3.0):
    out = []
    topic = '/bench/overhead'
    pid, truth = bench.subscriber(uniq('overhead_sub'), topic)
    tracer = bench.tracer
    for rate in rates:
        count = int(rate * seconds)
        off, on, entries, returns = [], [], [], []
        for _ in range(ROUNDS):
            off.append(bench.feed(topic, rate=rate, count=count, truths=[truth],
                                  cpu_pids=[pid])[0] / count / 1e3)
            tracer.attach_pid(pid)
            h0 = tracer.probes.tables.hits()
            on.append(bench.feed(topic, rate=rate, count=count, truths=[truth],
                                 cpu_pids=[pid])[0] / count / 1e3)
            h1 = tracer.probes.tables.hits()
            tracer.detach(pid)
            d = {k: h1[k] - h0[k] for k in h1}
            entries.append((d['push'] + d['call'] + d['deserialize'] + d['callback_done'])
                           / count)
            returns.append(d['deserialize_return'] / count)
        added = [b - a for a, b in zip(off, on)]
        e, r = spread(entries)['median'], spread(returns)['median']
        expected_us = (e * bench.raw['entry_ns'] + r * bench.raw['return_ns']) / 1e3
        out.append({'rate': rate, 'messages': count, 'untraced_us': spread(off),
                    'traced_us': spread(on), 'added_us': spread(added),
                    'entries_per_msg': e, 'returns_per_msg': r,
                    'expected_from_raw_us': expected_us,
                    'ratio_to_raw': spread(added)['median'] / expected_us if expected_us else None})
    return out


# -- 2c. a rospy subscriber ------------------------------------------------------------------
def rospy_overhead(bench, rates=(100, 1000), seconds=3.0):
    """Added CPU per message of a rospy subscriber (empty callback) traced from the
    tracepoints (probes/bpf/rospy.c), traced vs untraced in alternating rounds."""
    out = []
    topic = '/bench/rospy'
    name = uniq('rospy_sub')
    truth = bench.path(f'{name}.csv')
    bench.ros.node('rospy_subscriber', name, params={'topic': topic, 'work_ms': 0.0,
                                                     'truth_file': truth})
    pid = node_pid(bench.ros, '/' + name)
    tracer = bench.tracer
    for rate in rates:
        count = int(rate * seconds)
        off, on = [], []
        for _ in range(ROUNDS):
            off.append(bench.feed(topic, rate=rate, count=count, truths=[truth],
                                  cpu_pids=[pid])[0] / count / 1e3)
            tracer.attach_pid(pid)
            time.sleep(1.0)            # its connections are looked at every 0.5 s
            on.append(bench.feed(topic, rate=rate, count=count, truths=[truth],
                                 cpu_pids=[pid])[0] / count / 1e3)
            tracer.detach(pid)
        added = [b - a for a, b in zip(off, on)]
        out.append({'rate': rate, 'messages': count, 'untraced_us': spread(off),
                    'traced_us': spread(on), 'added_us': spread(added)})
    return out


# -- 2d. a rospy publisher --------------------------------------------------------------------
def rospy_publisher_overhead(bench, rates=(100, 1000), seconds=3.0):
    """Added CPU per message of a rospy publisher (64-byte messages) feeding a traced
    roscpp subscriber: its sends recognised and fingerprinted on the registered
    connection (publisher.c rospy_sent), traced vs untraced rounds."""
    topic = '/bench/rospy_publisher'
    sub_pid, truth = bench.subscriber(uniq('rospy_pub_sub'), topic)
    tracer = bench.tracer
    tracer.attach_pid(sub_pid)
    out = []
    for rate in rates:
        count = int(rate * seconds)
        off, on, sends = [], [], []
        for _ in range(ROUNDS):
            for traced in (False, True):
                before = len(read_csv(truth))
                name = uniq('rospy_pub')
                pub = bench.ros.node('rospy_publisher', name, params={
                    'topic': topic, 'rate': rate, 'count': count, 'size': 64,
                    'wait_subscribers': 1, 'start_delay': 2.0})
                pid = node_pid(bench.ros, '/' + name)
                if traced:
                    tracer.attach_publisher(target_from_pid(pid, node='/' + name))
                h0, c0 = tracer.probes.tables.hits(), cpu_ns(pid)

                def done():
                    if traced:          # as the monitor does: its connection is found
                        tracer.collect()
                    return len(read_csv(truth)) >= before + count
                wait_for(done, timeout=seconds + 60, interval=0.1, what=f'{count} messages')
                used = (cpu_ns(pid) - c0) / count / 1e3
                h1 = tracer.probes.tables.hits()
                if traced:
                    sends.append((h1['send'] - h0['send']) / count)
                    tracer.detach(pid)
                    on.append(used)
                else:
                    off.append(used)
                bench.ros.stop(pub)
        added = [b - a for a, b in zip(off, on)]
        out.append({'rate': rate, 'messages': count, 'untraced_us': spread(off),
                    'traced_us': spread(on), 'added_us': spread(added),
                    'send_hits_per_msg': spread(sends)['median']})
    tracer.detach(sub_pid)
    return out


# -- 2b. publisher side ------------------------------------------------------------------------
def publisher_overhead(bench, rate=1000, seconds=3.0, subscriber_counts=(1, 2)):
    """CPU of a publishing roscpp node per message with and without the publisher-side
    probes (TopicManager::publish + Publication::publish entries; a sendto tracepoint
    hit per subscriber socket), and the hits counted in BPF per published message."""
    tracer = bench.tracer
    out = []
    count = int(rate * seconds)
    for n_subs in subscriber_counts:
        topic = f'/bench/publisher{n_subs}'
        truths = [bench.subscriber(uniq('pubside_sub'), topic)[1] for _ in range(n_subs)]
        off, on, entries, sends = [], [], [], []
        for _ in range(ROUNDS):
            for traced in (False, True):
                before_rows = [len(read_csv(t)) for t in truths]
                name = uniq('pubside_pub')
                pub = bench.ros.node('publisher', name, params={
                    'topic': topic, 'rate': rate, 'count': count,
                    'wait_subscribers': n_subs, 'start_delay': 2.0})
                pid = node_pid(bench.ros, '/' + name)
                if traced:
                    tracer.attach_publisher(target_from_pid(pid, node='/' + name))
                h0, c0 = tracer.probes.tables.hits(), cpu_ns(pid)
                for t, n in zip(truths, before_rows):
                    wait_for(lambda: len(read_csv(t)) >= n + count, timeout=seconds + 60,
                             interval=0.1, what=f'{count} messages on {topic}')
                used = (cpu_ns(pid) - c0) / count / 1e3
                h1 = tracer.probes.tables.hits()
                if traced:
                    tracer.detach(pid)
                    d = {k: h1[k] - h0[k] for k in h1}
                    entries.append((d['topic_publish'] + d['publication_publish']) / count)
                    sends.append(d['send'] / count)
                    on.append(used)
                else:
                    off.append(used)
                bench.ros.stop(pub)
        added = [b - a for a, b in zip(off, on)]
        e = spread(entries)['median']
        expected_us = e * bench.raw['entry_ns'] / 1e3
        out.append({'rate': rate, 'subscribers': n_subs, 'messages': count,
                    'untraced_us': spread(off), 'traced_us': spread(on),
                    'added_us': spread(added), 'entries_per_msg': e,
                    'send_hits_per_msg': spread(sends)['median'],
                    'expected_from_raw_us': expected_us})
    return out


# -- 3. a roscpp node that is not traced ----------------------------------------------------
def bystander(bench, rate=1000, seconds=3.0):
    topic = '/bench/bystander'
    traced_pid, traced_truth = bench.subscriber(uniq('traced_sub'), topic)
    by_pid, by_truth = bench.subscriber(uniq('bystander_sub'), topic)
    count = int(rate * seconds)
    off, on = [], []
    for _ in range(ROUNDS):
        off.append(bench.feed(topic, rate=rate, count=count, truths=[traced_truth, by_truth],
                              cpu_pids=[by_pid])[0] / count / 1e3)
        bench.tracer.attach_pid(traced_pid)
        on.append(bench.feed(topic, rate=rate, count=count, truths=[traced_truth, by_truth],
                             cpu_pids=[by_pid])[0] / count / 1e3)
        bench.tracer.detach(traced_pid)
    ratios = [b / a for a, b in zip(off, on)]
    return {'rate': rate, 'untraced_node_us_without': spread(off),
            'untraced_node_us_with': spread(on), 'ratio': spread(ratios)}


# -- 4. monitor cost against rate, topics and nodes -----------------------------------------
def _monitor_run(bench, pattern, expected_nodes, samples=5, settle_s=2.0):
    config = bench.path(uniq('monitor') + '.yaml')
    with open(config, 'w') as f:
        f.write(f'publish_rate: 1\ntargets: [{{node: "{pattern}"}}]\n')
    name = uniq('bench_monitor')
    # Someone listens to /diagnostics, as diagnostic_aggregator does on a robot (rospy
    # serializes a message only for a connected subscriber); the monitor's own status
    # tells its publishing period and what the kernel lost.
    import rospy
    from diagnostic_msgs.msg import DiagnosticArray
    if not rospy.core.is_initialized():
        rospy.init_node('rostrace_bench', anonymous=True, disable_signals=True)
    own = {}

    def heard(array):
        for status in array.status:
            if status.name.startswith('rostrace: monitor'):
                own.update({kv.key: kv.value for kv in status.values})
    listener = rospy.Subscriber('/diagnostics', DiagnosticArray, heard)
    proc = bench.ros.node('rostrace_monitor', name, params={'config': config})
    wait_for(lambda: read_log(proc).count('attached to') >= expected_nodes, timeout=300,
             interval=0.2, what=f'the monitor to attach to {expected_nodes} nodes')
    time.sleep(settle_s)
    pid = node_pid(bench.ros, '/' + name)
    percent = []
    first, began = cpu_ns(pid), time.monotonic()
    for _ in range(samples):                   # one-second samples: median and spread
        c0 = cpu_ns(pid)
        time.sleep(1.0)
        percent.append(100.0 * (cpu_ns(pid) - c0) / 1e9)
    # ... and over all of them: a monitor that publishes every few seconds (its CPU
    # limit) works in bursts, which a median of one-second samples misses.
    mean = 100.0 * (cpu_ns(pid) - first) / 1e9 / (time.monotonic() - began)
    result = {'cpu_percent': spread(percent), 'cpu_percent_overall': mean,
              'rss_mib': rss_kib(pid) / 1024,
              'publish_period_s': float(own.get('publishing period (s)', 'nan')),
              'lost_hist': int(own.get('lost histogram samples (hist map full)', '-1')),
              'lost_stats': int(own.get('lost samples (stats map full)', '-1'))}
    started = time.monotonic()
    bench.ros.stop(proc)                        # SIGINT: detach everything, exit
    result['stop_s'] = time.monotonic() - started
    listener.unregister()
    return result


def _many(bench, role, name, *, topics, rate, prefix):
    return bench.ros.node('many_topics', name, params={'role': role, 'topics': topics,
                                                       'rate': rate, 'prefix': prefix})


NODE_TOPICS = 10


def monitor_scale(bench):
    ros = bench.ros
    out = {'rate': [], 'topics': [], 'nodes': []}
    for per_topic in (10, 100, 1000):                  # 10 topics: 100 .. 10000 msg/s
        prefix = f'/rate{per_topic}'
        sub = _many(bench, 'subscriber', uniq('rate_sub'), topics=10, rate=0, prefix=prefix)
        pub = _many(bench, 'publisher', uniq('rate_pub'), topics=10, rate=per_topic,
                    prefix=prefix)
        r = _monitor_run(bench, '/rate_sub_*', 1)
        out['rate'].append({'msgs_per_s': 10 * per_topic, **r})
        ros.stop(pub)
        ros.stop(sub)
    for topics in (10, 100, 1000):
        prefix = f'/topics{topics}'
        sub = _many(bench, 'subscriber', uniq('topics_sub'), topics=topics, rate=0,
                    prefix=prefix)
        pub = _many(bench, 'publisher', uniq('topics_pub'), topics=topics, rate=1,
                    prefix=prefix)
        # Long enough for monitor_cpu_percent's period to settle (model/pacing.py: a
        # period's work is known after a few periods of up to 4 s); 12 samples are three
        # whole periods of 4 s: a sum over 10 s held 2 or 3 periods' work by chance.
        r = _monitor_run(bench, '/topics_sub_*', 1, samples=12, settle_s=30.0)
        out['topics'].append({'topics': topics, **r})
        ros.stop(pub)
        ros.stop(sub)
    for nodes in (1, 10, 100):                         # x NODE_TOPICS topics each
        prefix = f'/nodes{nodes}'
        group = uniq('nodes')
        subs = [ros.node('many_topics', f'{group}_sub_{i}', wait=False,
                         params={'role': 'subscriber', 'topics': NODE_TOPICS, 'prefix': prefix})
                for i in range(nodes)]
        for i in range(nodes):
            ros.wait_node(f'/{group}_sub_{i}', timeout=120)
        pub = _many(bench, 'publisher', uniq('nodes_pub'), topics=NODE_TOPICS, rate=10,
                    prefix=prefix)
        r = _monitor_run(bench, f'/{group}_sub_*', nodes)
        out['nodes'].append({'nodes': nodes, 'topics_per_node': NODE_TOPICS, **r})
        ros.stop(pub)
        for s in subs:
            ros.stop(s)
    return out


# -- 5. from registration to the first breakdown --------------------------------------------
def first_breakdown(bench, runs=3):
    import rospy
    from rostrace.msg import LatencyBreakdown
    if not rospy.core.is_initialized():
        rospy.init_node('rostrace_bench', anonymous=True, disable_signals=True)
    seen = {}
    sub = rospy.Subscriber('/rostrace/latency', LatencyBreakdown,
                           lambda m: seen.setdefault(m.pid, time.time()))
    config = bench.path('late.yaml')
    with open(config, 'w') as f:
        f.write('publish_rate: 1\ntargets: [{node: /late_node}]\n')
    monitor = bench.ros.node('rostrace_monitor', uniq('bench_monitor'), params={'config': config})
    wait_for(lambda: 'probe cost' in read_log(monitor), timeout=60, what='monitor start')
    delays, attach = [], []
    for _ in range(runs):
        node = bench.ros.node('processing', 'late_node', wait=False)
        registered = wait_for(lambda: bench.ros.master().lookupNode('/bench', '/late_node')[0]
                              == 1 and time.time(), timeout=30, interval=0.01,
                              what='late_node registration')
        pid = node_pid(bench.ros, '/late_node')
        wait_for(lambda: pid in seen, timeout=30, interval=0.01, what='first breakdown')
        delays.append(seen[pid] - registered)
        lines = [line for line in read_log(monitor).splitlines()
                 if f'attached to /late_node (pid {pid})' in line]
        attach.append(float(lines[0].split('[')[2].split(']')[0]) - registered)
        bench.ros.stop(node)
        wait_for(lambda: f'detached from /late_node (pid {pid})' in read_log(monitor),
                 timeout=30, what='detach')
    bench.ros.stop(monitor)
    sub.unregister()
    return {'publish_rate_hz': 1, 'to_attach_s': spread(attach),
            'to_first_breakdown_s': spread(delays)}


# -- 6. accuracy against the scenario nodes' truth ------------------------------------------
def _percentile(values, q):
    v = sorted(values)
    return v[max(0, math.ceil(q * len(v)) - 1)]


def _traced(bench, node, run):
    """Attach to `node`, run the workload, return its breakdowns (one window)."""
    tracer = bench.tracer
    target = tracer.attach_node(node, master=_master(bench))
    tracer.collect()
    run()
    time.sleep(0.5)
    breakdowns = {b.topic: b for b in tracer.snapshot() if b.pid == target.pid}
    tracer.detach(target.pid)
    return breakdowns


def _master(bench):
    return Master(bench.ros.master_uri)


def _row(scenario, stage, measured, truth_values):
    truth_mean = sum(truth_values) / len(truth_values)
    truth_p99 = _percentile(truth_values, 0.99)
    return {'scenario': scenario, 'stage': stage, 'n': len(truth_values),
            'rostrace_mean_ms': measured.mean * 1e3, 'truth_mean_ms': truth_mean * 1e3,
            'mean_error_pct': 100 * (measured.mean - truth_mean) / truth_mean,
            'rostrace_p99_ms': measured.p99 * 1e3, 'truth_p99_ms': truth_p99 * 1e3,
            'p99_error_pct': 100 * (measured.p99 - truth_p99) / truth_p99}


def _durations(rows):
    return [(r['cb_end_ns'] - r['cb_start_ns']) * 1e-9 for r in rows]


def accuracy(bench):
    ros, rows_out = bench.ros, []
    for mode, ms in (('busy', 8.0), ('sleep', 15.0)):
        name = uniq(f'acc_{mode}')
        truth = bench.path(f'{name}.csv')
        ros.node('processing', name, params={'topic': f'/acc/{name}', 'work_ms': ms,
                                             'work_mode': mode, 'truth_file': truth})
        b = _traced(bench, '/' + name, lambda: bench.feed(f'/acc/{name}', rate=40, count=200,
                                                           truths=[truth]))
        rows_out.append(_row(f'processing {mode} {ms:g} ms', 'processing',
                             b[f'/acc/{name}'].stages['processing'], _durations(read_csv(truth))))
    name = uniq('acc_queuing')
    truth = bench.path(f'{name}.csv')
    ros.node('queuing', name, params={'slow_ms': 20.0, 'truth_file': truth,
                                      'slow_topic': f'/{name}/slow', 'fast_topic': f'/{name}/fast'})

    def queuing_load():
        pubs = [ros.node('publisher', uniq('acc_queuing_pub'), params={
            'topic': f'/{name}/{t}', 'rate': rate, 'count': count, 'wait_subscribers': 1})
            for t, rate, count in (('slow', 10, 30), ('fast', 100, 300))]
        wait_for(lambda: len(read_csv(truth)) >= 330, timeout=60, what='queuing callbacks')
        for p in pubs:
            ros.stop(p)
    b = _traced(bench, '/' + name, queuing_load)[f'/{name}/fast']
    waits = [r['wait_ns'] * 1e-9 for r in read_csv(truth) if r['topic'] == f'/{name}/fast']
    q = b.stages['queuing']
    deser = b.stages['deserialization'].mean
    rows_out.append(_row('queuing (fast behind 20 ms)', 'queuing + deserialization',
                         StageStats(True, q.count, q.mean + deser, p99=q.p99 + deser),
                         waits))
    name = uniq('acc_mt')
    truth = bench.path(f'{name}.csv')
    ros.node('multi_threaded', name, params={'threads': 4, 'work_ms': 3.0, 'truth_file': truth,
                                             'topics': [f'/{name}/a', f'/{name}/b'],
                                             'custom_topic': f'/{name}/c'})

    def mt_load():
        pubs = [ros.node('publisher', uniq('acc_mt_pub'), params={
            'topic': f'/{name}/{t}', 'rate': 100, 'count': 200, 'wait_subscribers': 1})
            for t in 'abc']
        wait_for(lambda: len(read_csv(truth)) >= 600, timeout=60, what='mt callbacks')
        for p in pubs:
            ros.stop(p)
    b = _traced(bench, '/' + name, mt_load)
    for t in 'abc':
        rows = [r for r in read_csv(truth) if r['topic'] == f'/{name}/{t}']
        rows_out.append(_row(f'multi-threaded /{t}', 'processing',
                             b[f'/{name}/{t}'].stages['processing'], _durations(rows)))
    name = uniq('acc_overload')
    truth = bench.path(f'{name}.csv')
    ros.node('overload', name, params={'topic': f'/{name}', 'work_ms': 20.0, 'queue_size': 2,
                                       'truth_file': truth})
    published = bench.path(f'{name}_pub.csv')

    def overload_load():
        ros.node('publisher', uniq('acc_over_pub'), params={
            'topic': f'/{name}', 'rate': 200, 'count': 300, 'wait_subscribers': 1,
            'truth_file': published})
        wait_for(lambda: len(read_csv(published)) >= 300, timeout=60, what='300 published')
        time.sleep(1.0)
    b = _traced(bench, '/' + name, overload_load)[f'/{name}']
    rows = read_csv(truth)
    inferred = sum(r['gap'] for r in rows) + rows[0]['seq'] - 1
    drops = {'scenario': 'overload (queue_size 2)', 'published': 300,
             'rostrace_dropped': b.dropped, 'truth_dropped': inferred,
             'rostrace_received': b.received, 'truth_received': len(rows)}
    return {'stages': rows_out, 'drops': drops}


# -- 7. against what ROS users run today ----------------------------------------------------
def versus_builtins(bench, rate=1000, seconds=3.0):
    ros = bench.ros
    count = int(rate * seconds)
    out = []
    for mode in ('plain', 'enable_statistics', 'rostopic hz', 'rostrace trace'):
        topic = f'/bench/vs_{mode.replace(" ", "_")}'
        if mode == 'enable_statistics':
            subprocess.run(['rosparam', 'set', '/enable_statistics', 'true'], env=ros.env,
                           check=True)
        pid, truth = bench.subscriber(uniq('vs_sub'), topic)
        if mode == 'enable_statistics':
            subprocess.run(['rosparam', 'delete', '/enable_statistics'], env=ros.env, check=True)
        observer = None
        if mode == 'rostopic hz':
            observer = ros.spawn(['rostopic', 'hz', topic], uniq('hz'))
        elif mode == 'rostrace trace':
            node = [n for n in _master(bench).nodes() if n.startswith('/vs_sub')][-1]
            observer = ros.spawn([PY, os.path.join(REPO, 'scripts', 'rostrace'), 'trace',
                                  '--node', node, '--json'], uniq('trace'))
            wait_for(lambda: 'Tracing' in read_log(observer), timeout=60, what='rostrace attach')
        time.sleep(1.0)
        sub_us, obs_us = [], []
        for _ in range(ROUNDS):
            pids = [pid] + ([observer.pid] if observer else [])
            used = bench.feed(topic, rate=rate, count=count, truths=[truth], cpu_pids=pids)
            sub_us.append(used[0] / count / 1e3)
            obs_us.append(used[1] / count / 1e3 if observer else 0.0)
        if observer:
            ros.stop(observer)
        out.append({'mode': mode, 'rate': rate, 'subscriber_us': spread(sub_us),
                    'observer_us': spread(obs_us)})
    return out


# -- 8. scheduler tracepoints: cost per context switch -------------------------------------
SCHED_TRACEPOINTS = (b'sched:sched_switch', b'sched:sched_waking',
                     b'exceptions:page_fault_user')


def _switches(pid):
    with open(f'/proc/{pid}/status') as f:
        return sum(int(line.split()[1]) for line in f if 'ctxt_switches' in line)


def _ping_pong(bench, mode, n):
    bpf = bench.tracer.probes.bpf
    path = os.path.join(os.path.dirname(calibrate_binary()), 'rostrace_pingpong')
    proc = subprocess.Popen([path, str(n)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    child = int(proc.stdout.readline())
    if mode == 'traced':
        for pid in (proc.pid, child):
            bpf['traced_tgids'][ctypes.c_uint(pid)] = ctypes.c_ubyte(1)
    before = _switches(proc.pid) + _switches(child)
    proc.stdin.write('go\n')
    proc.stdin.flush()
    elapsed = int(proc.stdout.readline())
    switches = _switches(proc.pid) + _switches(child) - before
    proc.stdin.write('done\n')
    proc.stdin.flush()
    proc.wait(timeout=30)
    for pid in (proc.pid, child):
        try:
            del bpf['traced_tgids'][ctypes.c_uint(pid)]
        except KeyError:
            pass
    return elapsed, switches


def sched_tracepoints(bench, n=50000, rounds=5):
    """Pipe ping-pong between two processes on one CPU: time per context switch with the sched
    tracepoints detached, attached (processes not traced: one hash lookup), and with
    the two processes traced (full per-thread accounting)."""
    bpf = bench.tracer.probes.bpf
    per_switch = {'detached': [], 'untraced': [], 'traced': []}
    for _ in range(rounds):
        for mode in per_switch:
            if mode == 'detached':
                for tp in SCHED_TRACEPOINTS:
                    bpf.detach_tracepoint(tp)
            elapsed, switches = _ping_pong(bench, mode, n)
            if mode == 'detached':
                for tp in SCHED_TRACEPOINTS:
                    fn = b'tracepoint__' + tp.replace(b':', b'__')
                    bpf.attach_tracepoint(tp=tp, fn_name=fn)
            per_switch[mode].append(elapsed / max(switches, 1))
    base = spread(per_switch['detached'])['median']
    return {'round_trips': n, 'ns_per_switch': {k: spread(v) for k, v in per_switch.items()},
            'added_untraced_ns': spread(per_switch['untraced'])['median'] - base,
            'added_traced_ns': spread(per_switch['traced'])['median'] - base}


# -- 10. soak: churn against a running monitor (issue 12) -----------------------------------
def soak(bench, target_kills=100, master_restarts=5, monitor_kills=20):
    import sys
    sys.path.insert(0, os.path.join(REPO, 'test', 'integration'))
    from soak import Soak
    started = time.monotonic()
    s = Soak(bench.ros, bench.tmp)
    s.start()
    s.kill_targets(target_kills)
    s.restart_master(master_restarts)
    s.flat(fd_slack=4, rss_slack_kib=32 * 1024)
    s.kill_monitor(monitor_kills)
    for proc in (s.monitor, s.target, s.source):
        bench.ros.stop(proc)
    return {'target_kills': target_kills, 'master_restarts': master_restarts,
            'monitor_kills': monitor_kills, 'seconds': time.monotonic() - started,
            'monitor_usage': [{'phase': p, 'fds': f, 'rss_mib': r / 1024}
                              for p, f, r in s.usage]}


# -- 11. rostrace against the simplest tracer (issue 13) ------------------------------------
RECEIVE_HITS = ('push', 'call', 'callback_done', 'deserialize', 'deserialize_return')


def _receive_hits(tracer):
    """uprobe hits of rostrace's receive path so far (tracepoint hits not included)."""
    h = tracer.probes.tables.hits()
    return sum(h[k] for k in RECEIVE_HITS)


def versus_minimal(bench, rate=1000, seconds=3.0, rounds=9):
    """Added CPU per message of the traced subscriber: the minimal 4-hit counting tracer
    (bench/minimal.py), rostrace's receive path, and the same without the scheduler
    split (its tracepoints still fire, and return at once for this process), interleaved
    rounds on one node. (Pinning the subscriber to one CPU and the publisher to the other
    made every figure noisier here: untraced 96 us (77-119) per message.)"""
    from bench.minimal import MinimalTracer
    topic = '/bench/minimal'
    pid, truth = bench.subscriber(uniq('minimal_sub'), topic)
    target = target_from_pid(pid)
    minimal, tracer = MinimalTracer(), bench.tracer
    count = int(rate * seconds)
    cpu = {'off': [], 'minimal': [], 'rostrace': [], 'no_split': []}
    hits = {'minimal': [], 'rostrace': [], 'no_split': []}
    try:
        for _ in range(rounds):
            for mode in cpu:
                if mode == 'minimal':
                    minimal.attach(pid, target.library)
                    h0 = minimal.hits()
                elif mode != 'off':
                    tracer.attach_pid(pid)
                    if mode == 'no_split':
                        tracer.probes.tables.set_flag(pid, abi.TGID_NO_SCHED, True)
                    h0 = _receive_hits(tracer)
                cpu[mode].append(bench.feed(topic, rate=rate, count=count, truths=[truth],
                                            cpu_pids=[pid])[0] / count / 1e3)
                if mode == 'minimal':
                    hits[mode].append((minimal.hits() - h0) / count)
                    minimal.detach(pid, target.library)
                elif mode != 'off':
                    hits[mode].append((_receive_hits(tracer) - h0) / count)
                    tracer.detach(pid)
    finally:
        minimal.close()
    added = {m: [v - o for v, o in zip(cpu[m], cpu['off'])] for m in hits}

    def ratio(m):
        r = [a / b for a, b in zip(added[m], added['minimal']) if b > 0]
        return spread(r) if r else None
    return {'rate': rate, 'messages': count, 'rounds': rounds,
            'untraced_us': spread(cpu['off']),
            'minimal_added_us': spread(added['minimal']),
            'rostrace_added_us': spread(added['rostrace']),
            'no_split_added_us': spread(added['no_split']),
            'minimal_hits_per_msg': spread(hits['minimal'])['median'],
            'rostrace_hits_per_msg': spread(hits['rostrace'])['median'],
            'ratio': ratio('rostrace'), 'no_split_ratio': ratio('no_split')}


# -- 13. time inside the BPF handlers per message (issue 13) -------------------------------
def _program_runs(bpf):
    """{handler name: (runs, ns)} of every program loaded in a BCC object."""
    return {name.decode(): program_runs(fn.fd) for name, fn in bpf.funcs.items()}


def handler_time(bench, rate=1000, seconds=3.0, rounds=3):
    """Nanoseconds spent inside BPF handlers per processed message (the kernel's own
    run_time_ns per program, kernel.bpf_stats_enabled=1), rostrace against the minimal
    tracer on the same subscriber. Unlike CPU deltas this is not blurred by what else
    the machine does: it is the per-hit work rostrace adds to the traps both pay."""
    from bench.minimal import MinimalTracer
    topic = '/bench/handlers'
    pid, truth = bench.subscriber(uniq('handlers_sub'), topic)
    target = target_from_pid(pid)
    minimal, tracer = MinimalTracer(), bench.tracer
    count = int(rate * seconds)
    per_msg = {'minimal': [], 'rostrace': []}
    handlers = {}
    try:
        with BpfStats():
            tracer.attach_pid(pid)          # learns the queue register, then leaves
            bench.feed(topic, rate=rate, count=200, truths=[truth])
            tracer.collect()
            tracer.detach(pid)
            for _ in range(rounds):
                for mode in per_msg:
                    bpf = minimal.bpf if mode == 'minimal' else tracer.probes.bpf
                    if mode == 'minimal':
                        minimal.attach(pid, target.library)
                    else:
                        tracer.attach_pid(pid)
                    before = _program_runs(bpf)
                    bench.feed(topic, rate=rate, count=count, truths=[truth])
                    after = _program_runs(bpf)
                    if mode == 'minimal':
                        minimal.detach(pid, target.library)
                    else:
                        tracer.collect()
                        tracer.detach(pid)
                    diff = {n: (after[n][0] - before[n][0], after[n][1] - before[n][1])
                            for n in after if n in before}
                    per_msg[mode].append(sum(ns for _, ns in diff.values()) / count)
                    if mode == 'rostrace':
                        for n, (runs, ns) in diff.items():
                            if runs:
                                handlers.setdefault(n, []).append((runs / count, ns / count))
    finally:
        minimal.close()
    return {'rate': rate, 'messages': count,
            'minimal_ns_per_msg': spread(per_msg['minimal']),
            'rostrace_ns_per_msg': spread(per_msg['rostrace']),
            'handlers': {n: {'runs_per_msg': spread([r for r, _ in v])['median'],
                             'ns_per_msg': spread([t for _, t in v])['median']}
                         for n, v in sorted(handlers.items())}}


# -- 15. both ends traced: what the transport split costs (issue 14) -------------------------
def link_cost(bench, rate=1000, seconds=3.0, warmup=300):
    """A traced publisher feeding a traced subscriber (the connection registered, so
    messages are matched and split in the kernel): CPU of both processes per message,
    untraced vs traced, and per BPF handler its run time per message (the kernel's
    run_time_ns) -- the split's tcp:tcp_probe and recvfrom-exit tracepoints among them."""
    tracer = bench.tracer
    topic = '/bench/link'
    count = int(rate * seconds)
    sub_pid, truth = bench.subscriber(uniq('link_sub'), topic)
    off, on, handlers = [], [], {}
    with BpfStats():
        for _ in range(ROUNDS):
            for traced in (False, True):
                start = len(read_csv(truth))
                name = uniq('link_pub')
                pub = bench.ros.node('publisher', name, params={
                    'topic': topic, 'rate': rate, 'count': warmup + count,
                    'wait_subscribers': 1, 'start_delay': 2.0})
                pid = node_pid(bench.ros, '/' + name)
                if traced:
                    tracer.attach_pid(sub_pid)
                    tracer.attach_publisher(target_from_pid(pid, node='/' + name))

                def reached(n):
                    if traced:
                        tracer.collect()        # pairs the connection: kernel matching
                    return len(read_csv(truth)) >= start + n
                wait_for(lambda: reached(warmup), timeout=60, interval=0.2, what='warm-up')
                c0, r0 = cpu_ns(pid) + cpu_ns(sub_pid), _program_runs(tracer.probes.bpf)
                wait_for(lambda: reached(warmup + count), timeout=seconds + 60, interval=0.2,
                         what=f'{count} messages on {topic}')
                used = (cpu_ns(pid) + cpu_ns(sub_pid) - c0) / count / 1e3
                r1 = _program_runs(tracer.probes.bpf)
                if traced:
                    for n in r1:
                        runs, ns = r1[n][0] - r0[n][0], r1[n][1] - r0[n][1]
                        if runs:
                            handlers.setdefault(n, []).append((runs / count, ns / count))
                    tracer.detach(pid)
                    tracer.detach(sub_pid)
                    on.append(used)
                else:
                    off.append(used)
                bench.ros.stop(pub)
    return {'rate': rate, 'messages': count, 'untraced_us': spread(off),
            'traced_us': spread(on), 'added_us': spread([b - a for a, b in zip(off, on)]),
            'handlers': {n: {'runs_per_msg': spread([r for r, _ in v])['median'],
                             'ns_per_msg': spread([t for _, t in v])['median']}
                         for n, v in sorted(handlers.items())}}


# -- 14. the overhead budget (issue 13) -------------------------------------------------------
def _windows(tracer, pid, seconds, period=0.5, traced=True):
    """Collect every `period` for `seconds`: [(mode measured in, estimate %)] of `pid`
    (none when it is not `traced`)."""
    out = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(period)
        tracer.collect()
        o = traced and tracer.budgets.overhead(pid)
        if o:
            out.append((o.mode, o.estimate_percent))
    return out


def budget(bench, rate=5000, budget_percent=1.0, settle_s=1.0, seconds=5.0, rounds=7):
    """A subscriber fed `rate` msg/s with `budget: {cpu_percent: budget_percent}`: its
    CPU (% of one core) untraced and traced after the first window(s), interleaved
    rounds on one publisher's stream (a publisher per round added its start-up to the
    spread); the modes the budget chose; then at 50 msg/s, windows until full returns."""
    ros, tracer = bench.ros, bench.tracer
    topic = '/bench/budget'
    pid, _ = bench.subscriber(uniq('budget_sub'), topic)
    off, on, modes, estimates = [], [], [], []
    pub = ros.node('publisher', uniq('budget_pub'), params={
        'topic': topic, 'rate': rate, 'wait_subscribers': 1,
        'count': int(rate * (rounds * 2 * (settle_s + seconds + 1) + 30))})
    time.sleep(settle_s)
    for _ in range(rounds):
        for traced in (False, True):
            # Untraced too, the tracer collects its windows: the monitor's own work on
            # the other CPU is the same in both, what differs is the process's probes.
            if traced:
                tracer.attach_pid(pid)
                tracer.set_budget(pid, budget_percent)
            _windows(tracer, pid, settle_s, traced=traced)
            c0, t0 = cpu_ns(pid), time.monotonic()
            seen = _windows(tracer, pid, seconds, traced=traced)
            percent = (cpu_ns(pid) - c0) / ((time.monotonic() - t0) * 1e9) * 100
            (on if traced else off).append(percent)
            if traced:
                modes.append(seen[-1][0])
                estimates.append(seen[-1][1])
                tracer.detach(pid)
    ros.stop(pub)
    added = [b - a for a, b in zip(off, on)]
    # Back up: the same budget at 50 msg/s, from the mode the high rate left.
    tracer.attach_pid(pid)
    tracer.set_budget(pid, budget_percent)
    pub = ros.node('publisher', uniq('budget_pub'), params={
        'topic': topic, 'rate': rate, 'count': rate * 4, 'wait_subscribers': 1})
    high = _windows(tracer, pid, 2.0)
    ros.stop(pub)
    pub = ros.node('publisher', uniq('budget_pub'), params={
        'topic': topic, 'rate': 50, 'count': 50 * 20, 'wait_subscribers': 1})
    low = _windows(tracer, pid, 8.0)
    ros.stop(pub)
    tracer.detach(pid)
    back = next((i for i, (mode, _) in enumerate(low) if mode == 'full'), None)
    return {'rate': rate, 'budget_percent': budget_percent, 'window_s': 0.5,
            'untraced_percent': spread(off), 'traced_percent': spread(on),
            'added_percent': spread(added), 'modes': modes,
            'estimate_percent': spread(estimates), 'high_rate_modes': [m for m, _ in high],
            'low_rate_modes': [m for m, _ in low],
            'windows_until_full_at_50': None if back is None else back + 1}


# -- 12. do other roscpp processes stall while rostrace attaches? (issue 13) ---------------
def attach_stall(bench, rate=200, seconds=6.0, rounds=3, attaches=10):
    """Latency (publish -> callback start, both nodes' own truth) of an untraced
    publisher/subscriber pair while rostrace attaches to and detaches from another
    roscpp node `attaches` times, against the same pair with nothing attached. Every
    uprobe registration walks every process that maps libroscpp (the kernel takes each
    one's mmap lock), so a stall would show in this pair's worst messages."""
    ros, tracer = bench.ros, bench.tracer
    topic = '/bench/stall'
    target_pid, _ = bench.subscriber(uniq('stall_target'), '/bench/stall_other')
    _, sub_truth = bench.subscriber(uniq('stall_sub'), topic)
    out = {'quiet': [], 'attaching': []}
    count = int(rate * seconds)
    for _ in range(rounds):
        for mode in out:
            pub_truth = bench.path(uniq('stall_pub') + '.csv')
            n0 = len(read_csv(sub_truth))
            pub = ros.node('publisher', uniq('stall_pub'), params={
                'topic': topic, 'rate': rate, 'count': count, 'wait_subscribers': 1,
                'truth_file': pub_truth})
            time.sleep(1.0)                 # both modes: the same start-up
            if mode == 'attaching':
                for _ in range(attaches):
                    tracer.attach_pid(target_pid)
                    tracer.detach(target_pid)
                    time.sleep(0.2)
            wait_for(lambda: len(read_csv(sub_truth)) >= n0 + count,
                     timeout=seconds + 60, interval=0.1, what='the stall pair')
            sent = {r['seq']: r['pub_start_ns'] for r in read_csv(pub_truth)}
            lat = sorted((r['cb_start_ns'] - sent[r['seq']]) / 1e3
                         for r in read_csv(sub_truth)[n0:] if r['seq'] in sent)
            out[mode].append({'p50_us': lat[len(lat) // 2],
                              'p99_us': _percentile(lat, 0.99), 'max_us': lat[-1]})
            ros.stop(pub)
    return {'rate': rate, 'messages': count, 'attaches_per_round': attaches,
            **{mode: {k: spread([r[k] for r in rows]) for k in ('p50_us', 'p99_us', 'max_us')}
               for mode, rows in out.items()}}


# -- 16. tf2 lookups and actionlib (issue 17) -------------------------------------------------
def _cpu_over(pids, seconds):
    c0 = sum(cpu_ns(p) for p in pids)
    time.sleep(seconds)
    return sum(cpu_ns(p) for p in pids) - c0


def tf_actions_cost(bench, rate=1000, seconds=3.0):
    """What following tf2 lookups and actions adds, each against the same node traced
    without it (interleaved rounds): a node looking up a static transform `rate` times a
    second (its timer also traced in both), and an action server publishing feedback
    `rate` times a second to a client (both traced, their topics too): added CPU of the
    traced processes per lookup / per action message, hits per lookup, and the tracer's
    own CPU per action message (parsing the copied bytes)."""
    tracer = bench.tracer
    name = uniq('bench_tf')
    tf_node = bench.ros.node('tf_lookups', name, params={
        'period_ms': 1000.0 / rate, 'odom_every': 1, 'unknown_every': 0, 'island_every': 0})
    pid = node_pid(bench.ros, '/' + name)
    target = tracer.attach_pid(pid, node='/' + name)
    handlers = sorted({h for h, _, _ in target.tf_points})
    tf_off, tf_on, tf_hits = [], [], []
    for _ in range(ROUNDS):
        for with_tf in (False, True):
            if with_tf:
                tracer.tf.forget(pid)
                tracer.tf.attached(target)
            else:
                for h in handlers:
                    tracer.probes.uprobes.remove_handler(pid, h)
            h0 = tracer.probes.tables.hits()
            used = _cpu_over([pid], seconds)
            h1 = tracer.probes.tables.hits()
            lookups = max(h1['timer'] - h0['timer'], 1)     # one per firing
            (tf_on if with_tf else tf_off).append(used / lookups / 1e3)
            if with_tf:
                tf_hits.append((h1['tf'] - h0['tf']) / lookups)
            tracer.collect()
    tracer.detach(pid)
    bench.ros.stop(tf_node)
    # actions: one long goal, feedback at `rate`
    server, client = uniq('bench_action_server'), uniq('bench_action_client')
    procs = [bench.ros.node('actions', server, params={
                 'role': 'server', 'action': '/bench_work', 'accept_ms': 0,
                 'feedback_ms': 1000.0 / rate, 'feedbacks': 10 ** 7}),
             bench.ros.node('actions', client, params={'role': 'client', 'action': '/bench_work',
                                                       'goals': 1})]
    pids = [node_pid(bench.ros, '/' + n) for n in (server, client)]
    master = Master(bench.ros.master_uri)
    for n in (server, client):
        tracer.attach_node('/' + n, master=master)
    time.sleep(2.0)
    tracer.collect()
    act_off, act_on, own = [], [], []
    for _ in range(ROUNDS):
        for with_actions in (False, True):
            for p in pids:
                tracer.probes.tables.set_flag(p, abi.TGID_ACTIONS, with_actions)
            h0 = tracer.probes.tables.hits()
            used = _cpu_over(pids, seconds)
            t0 = time.process_time()
            window = tracer.collect()
            spent = time.process_time() - t0
            h1 = tracer.probes.tables.hits()
            messages = max(h1['publication_publish'] - h0['publication_publish'], 1)
            (act_on if with_actions else act_off).append(used / messages / 1e3)
            if with_actions:
                followed = sum(a.stages['feedback_interval'].count for a in window.actions.values()
                               if 'feedback_interval' in a.stages)
                own.append((spent, max(followed, 1)))
    tracer.detach_many(pids)
    for proc in procs:
        bench.ros.stop(proc)
    return {'rate': rate, 'seconds': seconds,
            'tf': {'untraced_us': spread(tf_off), 'traced_us': spread(tf_on),
                   'added_us': spread([b - a for a, b in zip(tf_off, tf_on)]),
                   'hits_per_lookup': spread(tf_hits)['median']},
            'actions': {'without_us': spread(act_off), 'with_us': spread(act_on),
                        'added_us': spread([b - a for a, b in zip(act_off, act_on)]),
                        'tracer_us_per_message': spread([s / n * 1e6 for s, n in own])}}


# Sections that read another's result (bench.raw): BENCH_ONLY runs that one too.
NEEDS = {'traced_overhead': 'raw_probe_cost', 'publisher_overhead': 'raw_probe_cost'}

SECTIONS = [
    ('raw_probe_cost', raw_probe_cost),
    ('traced_overhead', traced_overhead),
    ('publisher_overhead', publisher_overhead),
    ('rospy_overhead', rospy_overhead),
    ('rospy_publisher_overhead', rospy_publisher_overhead),
    ('bystander', bystander),
    ('monitor_scale', monitor_scale),
    ('first_breakdown', first_breakdown),
    ('accuracy', accuracy),
    ('versus_builtins', versus_builtins),
    ('sched_tracepoints', sched_tracepoints),
    ('versus_minimal', versus_minimal),
    ('attach_stall', attach_stall),
    ('handler_time', handler_time),
    ('link_cost', link_cost),
    ('budget', budget),
    ('tf_actions_cost', tf_actions_cost),
    ('soak', soak),            # last: it restarts the master
]
