"""Issue 8 acceptance: where the time went, from kernel tracepoints, against known
workloads (a SCHED_FIFO hog, sleeping and busy callbacks, fresh pages, a callback
that allocates and writes)."""

from harness import PY, read_csv, wait_for
from monitoring import echo, echoed, start_monitor, statuses, write_config
from tracing import publish, settle, start_trace, stop_trace, topic_windows

CPU = '1'          # the CPU the starved node and the hog share


def shares(window, parent):
    parts = {k: window['stages'][k]['mean'] for k in window['stages']
             if k.startswith(parent + '_') and window['stages'][k]['count']}
    total = sum(parts.values())
    return {k[len(parent) + 1:]: v / total for k, v in parts.items()}


def fast_queuing(ros, tmp_path, name, *, during=None):
    truth = str(tmp_path / f'{name}.csv')
    ros.node('queuing', name, params={'slow_ms': 30.0, 'truth_file': truth},
             prefix=('taskset', '-c', CPU))
    trace = start_trace(ros, '--node', f'/{name}', '--interval', '120')
    publish(ros, f'{name}_warmup', '/queuing/fast', count=5, rate=50)   # running before
    wait_for(lambda: len(read_csv(truth)) >= 5, timeout=30, what='warm-up')   # the trouble
    hog = during() if during else None
    # 2 s of messages; fast ones wait behind 30 ms callbacks (busy) -- and, with the
    # hog running well past them, mostly for a CPU (starved)
    # (a starved subscriber connects slowly: the publishers wait 2 s once it is there)
    publish(ros, f'{name}_slow', '/queuing/slow', count=10, rate=5, start_delay=2.0)
    publish(ros, f'{name}_fast', '/queuing/fast', count=100, rate=50, start_delay=2.0)
    # The last fast message (seq 100; the warm-up's are 1-5) always arrives last.
    wait_for(lambda: any(r['topic'] == '/queuing/fast' and r['seq'] == 100
                         for r in read_csv(truth)),
             timeout=90, what='the last fast callback')
    if hog:
        hog.wait(timeout=30)
    settle(1.0)
    return topic_windows(stop_trace(ros, trace), '/queuing/fast')[0]


def test_cpu_starvation_by_a_fifo_hog_on_the_same_cpu(ros, tmp_path):
    calm = fast_queuing(ros, tmp_path, 'calm_node')
    calm_shares = shares(calm, 'queuing')
    print(f'\nwithout hog: queuing {calm["stages"]["queuing"]["mean"] * 1e3:.2f} ms, '
          f'split {calm_shares}')
    assert calm_shares['starved'] < 0.10

    def hog():         # SCHED_FIFO busy loop on the node's CPU for 12 s (RT throttling
        return ros.spawn(['chrt', '-f', '50', 'taskset', '-c', CPU, PY, '-c',  # keeps 5 %)
                          'import time\nend = time.time() + 12\nwhile time.time() < end: pass'],
                         'hog')
    starved = fast_queuing(ros, tmp_path, 'starved_node', during=hog)
    starved_shares = shares(starved, 'queuing')
    print(f'with hog: queuing {starved["stages"]["queuing"]["mean"] * 1e3:.2f} ms, '
          f'split {starved_shares}')
    assert starved_shares['starved'] >= 0.80


def test_sleeping_callback_is_blocked_and_busy_callback_on_cpu(ros, tmp_path):
    for mode, stage in (('sleep', 'processing_blocked'), ('busy', 'processing_oncpu')):
        truth = str(tmp_path / f'{mode}.csv')
        name = f'{mode}_node'
        ros.node('processing', name, params={'topic': f'/{mode}', 'work_ms': 10.0,
                                             'work_mode': mode, 'truth_file': truth})
        trace = start_trace(ros, '--node', f'/{name}', '--interval', '120', name=f'trace_{mode}')
        publish(ros, f'pub_{mode}', f'/{mode}', count=40, rate=20)
        wait_for(lambda: len(read_csv(truth)) >= 40, timeout=30, what='40 callbacks')
        settle()
        w = topic_windows(stop_trace(ros, trace), f'/{mode}')[0]
        measured = w['stages'][stage]['mean']
        # The node's own measure of its callbacks: a 10 ms sleep on a loaded VM took
        # 10.6 ms in a clean run (10.2 alone); the split is judged against what happened.
        rows = read_csv(truth)
        truth_ms = sum(r['cb_end_ns'] - r['cb_start_ns'] for r in rows) / len(rows) / 1e6
        print(f'\n{mode} 10 ms: {stage} {measured * 1e3:.3f} ms (truth callback '
              f'{truth_ms:.3f} ms), split {shares(w, "processing")}')
        assert w['stages'][stage]['count'] == 40
        assert abs(measured - truth_ms * 1e-3) <= max(0.05 * truth_ms * 1e-3, 200e-6), measured
        assert shares(w, 'processing')[stage[len('processing_'):]] >= 0.9


def test_fresh_pages_fault_in_the_callback(ros, tmp_path):
    truth = str(tmp_path / 'pages.csv')
    ros.node('processing', 'pages_node', params={'work_ms': 0.0, 'touch_pages': 64,
                                                 'truth_file': truth})
    trace = start_trace(ros, '--node', '/pages_node', '--interval', '120')
    publish(ros, 'pub', '/processing/data', count=20, rate=20)
    wait_for(lambda: len(read_csv(truth)) >= 20, timeout=30, what='20 callbacks')
    settle()
    w = topic_windows(stop_trace(ros, trace), '/processing/data')[0]
    print(f'\npage faults per callback: {w["per_callback"]["page_faults"]:.1f} (64 pages)')
    assert w['per_callback']['page_faults'] >= 64


def test_critical_topics_audit_allocations_and_syscalls(ros, tmp_path):
    config = write_config(tmp_path / 'm.yaml', '''
publish_rate: 2
window: 60
targets:
  - {node: /dirty_node, critical: true}
  - {node: /clean_node, critical: true}
''')
    ros.node('processing', 'dirty_node', params={
        'topic': '/dirty', 'work_ms': 0.5, 'alloc_bytes': 4096,
        'write_file': str(tmp_path / 'dirty.log')})
    ros.node('processing', 'clean_node', params={'topic': '/clean', 'work_ms': 0.5})
    listener = echo(ros, '/rostrace/latency', 'echo_latency')
    diag = echo(ros, '/diagnostics', 'echo_diagnostics')
    start_monitor(ros, config, attached=['/dirty_node', '/clean_node'])
    publish(ros, 'pub_dirty', '/dirty', count=30, rate=30)
    publish(ros, 'pub_clean', '/clean', count=30, rate=30)

    def latest(topic):
        msgs = [m for m in echoed(listener) if m['topic'] == topic]
        return msgs[-1] if msgs and msgs[-1]['processed'] >= 30 else None
    dirty = wait_for(lambda: latest('/dirty'), timeout=30, what='dirty breakdown')
    clean = wait_for(lambda: latest('/clean'), timeout=30, what='clean breakdown')
    calls = dict(zip(dirty['syscall_names'], dirty['syscall_counts']))
    print(f'\ndirty: {dirty["allocations"]} allocations, syscalls {calls}; clean: '
          f'{clean["allocations"]} allocations, syscalls {clean["syscall_names"]}')
    assert dirty['audited'] and dirty['allocations'] >= 30
    assert calls.get('write') == 30 and calls.get('openat') == 30 and calls.get('close') == 30
    assert clean['audited'] and clean['allocations'] == 0 and clean['syscall_names'] == []
    wait_for(lambda: any('critical callbacks allocate' in s['message']
                         for s in statuses(diag, 'rostrace: /dirty_node /dirty')),
             timeout=10, what='a WARN about allocations')
