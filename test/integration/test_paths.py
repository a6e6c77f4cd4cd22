"""Issue 16 (paths): end-to-end latency along chains of nodes, inferred in the kernel —
real roscore, a chain of real roscpp processes (source -> A -> B -> sink, a fan-out
branch and an unrelated chain beside it), real probes, against the truth every node
writes with its own steady clock."""
import statistics
import time

import pytest

from harness import json_lines, read_csv, read_log, wait_for
from monitoring import echo, echoed, rosdiagnostic, write_config
from tracing import assert_mean_close, publish

from rostrace.model.numbers import Window
from rostrace.model.paths import build_paths, edges
from rostrace.system.rosapi import Master

MESSAGES = 100


def start_chain(ros, tmp_path, stages):
    """Chain nodes (name, in, out, work_ms); a truth file each."""
    truth = {}
    for name, topic_in, topic_out, work_ms in stages:
        truth[name] = str(tmp_path / f'{name}.csv')
        ros.node('chain', name, params={'in': topic_in, 'out': topic_out, 'work_ms': work_ms,
                                        'truth_file': truth[name]})
    return truth


def sink(ros, tmp_path, name, topic, work_ms=1.0):
    path = str(tmp_path / f'{name}.csv')
    ros.node('processing', name, params={'topic': topic, 'work_ms': work_ms,
                                         'truth_file': path})
    return path


def source(ros, tmp_path, name, topic, *, start_delay):
    path = str(tmp_path / f'{name}.csv')
    publish(ros, name, topic, count=MESSAGES, rate=20, start_delay=start_delay,
            truth_file=path)
    return path


def truth_end_to_end(source_csv, sink_csv, skip=0):
    """Per message (by seq): the sink's callback end - the source's publish() (the
    sink's first `skip` rows are someone else's)."""
    sent = {r['seq']: r['pub_start_ns'] for r in read_csv(source_csv)}
    return [(r['cb_end_ns'] - sent[r['seq']]) * 1e-9 for r in read_csv(sink_csv)[skip:]
            if r['seq'] in sent]


def p99_bounds(values):
    v = sorted(values)
    rank = 0.99 * len(v)
    return v[max(0, int(rank) - 1)], v[min(len(v) - 1, int(rank))]


@pytest.fixture
def tracer():
    from rostrace.engine import Tracer
    t = Tracer()
    yield t
    t.close()


def test_chains_fan_out_and_a_bystander_chain_each_match_their_truth(ros, tracer, tmp_path):
    start_chain(ros, tmp_path, [('A', '/c/a', '/c/b', 5.0),
                                              ('B', '/c/b', '/c/c', 10.0),
                                              ('B2', '/c/b', '/c/d', 3.0),
                                              ('X', '/x/a', '/x/b', 2.0)])
    sinks = {'/c/c': sink(ros, tmp_path, 'sink', '/c/c'),
             '/c/d': sink(ros, tmp_path, 'sink2', '/c/d', 2.0),
             '/x/b': sink(ros, tmp_path, 'xsink', '/x/b')}
    master = Master(ros.master_uri)
    for node in ('/A', '/B', '/B2', '/X', '/sink', '/sink2', '/xsink'):
        tracer.attach_node(node, master=master)
    # The sources start once the connections are registered (a window or two).
    sources = {'/c/a': source(ros, tmp_path, 'src', '/c/a', start_delay=4.0),
               '/x/a': source(ros, tmp_path, 'xsrc', '/x/a', start_delay=4.0)}
    totals = Window(window_s=0.0)

    def collect():
        totals.merge(tracer.collect())
        tracer.follow_publishers(master)
        return True
    wait_for(lambda: collect() and all(len(read_csv(f)) >= MESSAGES for f in sinks.values()),
             timeout=60, interval=1.0, what='every sink to process its messages')
    time.sleep(0.5)
    collect()
    names = tracer.attachments.node_name
    wanted = [('/c/a', '/c/c'), ('/c/a', '/c/d'), ('/x/a', '/x/b'), ('/c/b', '/c/c')]
    paths = {(p.source, p.destination): p for p in build_paths(totals, names, wanted=wanted)}
    for (src, dst), path in sorted(paths.items()):
        truth = truth_end_to_end(sources[src], sinks[dst]) if src in sources else None
        s = path.stages['end_to_end']
        print(f'\n{path.name} ends in {path.node}: {path.count} messages, mean '
              f'{s.mean * 1e3:.3f} ms, p99 {s.p99 * 1e3:.3f} ms; hops '
              + ' | '.join(f'{h.topic} {h.publisher}->{h.node} {h.latency * 1e3:.2f}'
                           for h in path.hops))
        if truth is None:
            continue
        assert path.count == len(truth) == MESSAGES
        assert_mean_close(s.mean, statistics.mean(truth), f'{path.name} end-to-end mean')
        lo, hi = p99_bounds(truth)
        assert lo * 0.93 - 100e-6 <= s.p99 <= hi * 1.07 + 100e-6, (s.p99, lo, hi)
    assert [(h.publisher, h.topic, h.node) for h in paths['/c/a', '/c/c'].hops] == [
        ('/src', '/c/a', '/A'), ('/A', '/c/b', '/B'), ('/B', '/c/c', '/sink')]
    assert paths['/c/a', '/c/c'].worst_hop.node == '/B'
    assert [h.node for h in paths['/c/a', '/c/d'].hops] == ['/A', '/B2', '/sink2']
    assert [h.node for h in paths['/x/a', '/x/b'].hops] == ['/X', '/xsink']
    # One hop further down the chain: the hand-off of A's /c/b -> the sink's callback end.
    assert paths['/c/b', '/c/c'].count == MESSAGES
    # The inferred graph is the launched one: no edge between the chains, none invented.
    graph = {(names(pub), topic, names(sub)) for (pub, topic), subs in edges(totals).items()
             for sub in subs}
    assert graph == {('/src', '/c/a', '/A'), ('/A', '/c/b', '/B'), ('/A', '/c/b', '/B2'),
                     ('/B', '/c/c', '/sink'), ('/B2', '/c/d', '/sink2'),
                     ('/xsrc', '/x/a', '/X'), ('/X', '/x/b', '/xsink')}
    causes = {(names(c.pid), c.input, c.output) for c in totals.causes}
    assert causes == {('/A', '/c/a', '/c/b'), ('/B', '/c/b', '/c/c'),
                      ('/B2', '/c/b', '/c/d'), ('/X', '/x/a', '/x/b')}


def test_path_cli_prints_the_route_and_its_end_to_end(ros, tmp_path):
    start_chain(ros, tmp_path, [('A', '/c/a', '/c/b', 5.0), ('B', '/c/b', '/c/c', 10.0)])
    sink_csv = sink(ros, tmp_path, 'sink', '/c/c')
    src_csv = str(tmp_path / 'src.csv')
    proc = ros.rostrace('path', '--from', '/c/a', '--to', '/c/c', '--json', name='path')
    wait_for(lambda: 'Hit Ctrl-C' in read_log(proc) or proc.poll() is not None,
             timeout=60, what='rostrace path to attach')
    # The source comes later: rostrace follows it as the publisher of /c/a, and it
    # publishes once its connections are registered (a window or two).
    publish(ros, 'src', '/c/a', count=MESSAGES, rate=20, start_delay=4.0,
            truth_file=src_csv)
    wait_for(lambda: len(read_csv(sink_csv)) >= MESSAGES, timeout=60, interval=0.5,
             what='the sink to process its messages')
    time.sleep(1.5)
    assert ros.stop(proc) == 0, read_log(proc)
    lines = json_lines(read_log(proc))
    summary = [line for line in lines if line.get('summary')]
    assert len(summary) == 1, read_log(proc)
    total = summary[0]
    assert total['path'] == '/c/a→/c/c' and total['node'] == '/sink'
    assert [h['node'] for h in total['hops']] == ['/A', '/B', '/sink']
    truth = truth_end_to_end(src_csv, sink_csv)
    assert total['count'] == len(truth) == MESSAGES
    assert_mean_close(total['stages']['end_to_end']['mean'], statistics.mean(truth),
                      'rostrace path end-to-end mean')
    assert total['worst_hop'] == 1


def test_path_budget_in_the_monitor_errors_naming_the_worst_hop_and_clears(ros, tmp_path):
    """A path with an error bound below its measured end-to-end is ERROR in rosdiagnostic
    (through diagnostic_aggregator), naming the worst hop; raising the bound clears it.
    The config names no target: the nodes on the path's route are traced for it."""
    start_chain(ros, tmp_path, [('A', '/c/a', '/c/b', 5.0), ('B', '/c/b', '/c/c', 10.0)])
    sink(ros, tmp_path, 'sink', '/c/c')
    config = write_config(tmp_path / 'paths.yaml', '''
publish_rate: 2
paths:
  - {name: perception, from: /c/a, to: /c/c, budget: {warn: 5, error: 10}}
''')
    launch = tmp_path / 'paths.launch'
    launch.write_text(f'''<launch>
  <include file="$(find rostrace)/launch/monitor.launch">
    <arg name="config" value="{config}"/>
  </include>
  <node pkg="diagnostic_aggregator" type="aggregator_node" name="diagnostic_aggregator">
    <rosparam command="load" file="$(find rostrace)/config/analyzers.yaml"/>
  </node>
</launch>''')
    ros.spawn(['roslaunch', str(launch)], 'paths_launch')
    ros.wait_node('/rostrace_monitor', timeout=60)
    paths_echo = echo(ros, '/rostrace/paths', 'paths_echo')
    publish(ros, 'src', '/c/a', count=0, rate=20, start_delay=3.0)

    def line(level):
        out = rosdiagnostic(ros)
        found = [text for text in out.splitlines()
                 if 'path perception' in text and level in text.split(']')[0]]
        return found[0] if found else None
    text = wait_for(lambda: line('ERROR'), timeout=90, interval=1.0, what='the path ERROR')
    print(f'\n{text}')
    assert 'perception: p99' in text and '> error 10 ms' in text
    assert 'worst hop /B processing' in text
    msgs = [m for m in echoed(paths_echo) if m['count']]
    assert msgs and msgs[-1]['name'] == 'perception' and msgs[-1]['node'] == '/sink'
    assert msgs[-1]['hop_nodes'] == ['/A', '/B', '/sink'] and msgs[-1]['worst_hop'] == 1
    # Nothing but the path was configured: no topic status for the route's nodes.
    assert 'slow_topic' not in rosdiagnostic(ros) and ' c b ' not in rosdiagnostic(ros)

    write_config(tmp_path / 'paths.yaml', '''
publish_rate: 2
paths:
  - {name: perception, from: /c/a, to: /c/c, budget: {warn: 40, error: 80}}
''')
    text = wait_for(lambda: line('OK'), timeout=30, interval=1.0, what='the path back to OK')
    print(text)


def test_topic_tools_relays_are_linked_in_a_path(ros, tracer, tmp_path):
    """Debian's topic_tools relay -> relay (ShapeShifter, nobody's code changed): the
    kernel links each relayed message to the one that came in."""
    sink_csv = sink(ros, tmp_path, 'rsink', '/r/out')
    for name, topic_in, topic_out in (('relay1', '/r/in', '/r/mid'),
                                      ('relay2', '/r/mid', '/r/out')):
        ros.spawn(['rosrun', 'topic_tools', 'relay', topic_in, topic_out,
                   f'__name:={name}'], name)
        ros.wait_node(f'/{name}')
    master = Master(ros.master_uri)
    for node in ('/relay1', '/relay2', '/rsink'):
        tracer.attach_node(node, master=master)
    # A relay advertises its output once a first message told it the type: a few
    # messages first, so the relays' connections exist (and are found) before the
    # measured ones.
    publish(ros, 'rwarm', '/r/in', count=10, rate=10)
    wait_for(lambda: tracer.collect() and tracer.follow_publishers(master) is None
             and len(read_csv(sink_csv)) >= 2, timeout=30, interval=1.0,
             what='the relays to advertise')
    for _ in range(3):                  # the warm-up is over (1 s) and its rows written
        time.sleep(1.0)
        tracer.collect()
        tracer.follow_publishers(master)
    skip = len(read_csv(sink_csv))
    src_csv = source(ros, tmp_path, 'rsrc', '/r/in', start_delay=2.0)
    totals = Window(window_s=0.0)

    def collect():
        totals.merge(tracer.collect())
        tracer.follow_publishers(master)
        return True
    wait_for(lambda: collect() and len(read_csv(sink_csv)) >= skip + MESSAGES, timeout=60,
             interval=1.0, what='the relayed messages')
    time.sleep(0.5)
    collect()
    (path,) = build_paths(totals, tracer.attachments.node_name, wanted=[('/r/in', '/r/out')])
    truth = truth_end_to_end(src_csv, sink_csv, skip)
    print(f'\n{path.name}: {path.count} messages, hops '
          + ' | '.join(f'{h.topic} {h.publisher}->{h.node}' for h in path.hops))
    assert [h.node for h in path.hops] == ['/relay1', '/relay2', '/rsink']
    assert path.count == len(truth) == MESSAGES
    assert_mean_close(path.stages['end_to_end'].mean, statistics.mean(truth),
                      'relay path end-to-end mean')


def test_a_timer_driven_hop_links_to_the_latest_input_with_its_age(ros, tracer, tmp_path):
    """source 20 Hz -> A -> S, a sampler publishing its latest input from a 10 Hz timer
    -> sink: each sink message is followed back to the source message S sampled; the
    sampling age and the end-to-end match the nodes' truth."""
    start_chain(ros, tmp_path, [('A', '/s/a', '/s/b', 5.0)])
    sampler_csv = str(tmp_path / 'S.csv')
    ros.node('chain', 'S', params={'in': '/s/b', 'out': '/s/c', 'work_ms': 1.0,
                                   'timer_hz': 10.0, 'new_only': True,
                                   'truth_file': sampler_csv})
    sink_csv = sink(ros, tmp_path, 'ssink', '/s/c')
    master = Master(ros.master_uri)
    for node in ('/A', '/S', '/ssink'):
        tracer.attach_node(node, master=master)
    src_csv = source(ros, tmp_path, 'ssrc', '/s/a', start_delay=4.0)
    totals = Window(window_s=0.0)

    def collect():
        totals.merge(tracer.collect())
        tracer.follow_publishers(master)
        return True
    wait_for(lambda: collect() and len(read_csv(src_csv)) >= MESSAGES, timeout=60,
             interval=1.0, what='the source to publish its messages')
    time.sleep(1.0)
    collect()
    (path,) = build_paths(totals, tracer.attachments.node_name, wanted=[('/s/a', '/s/c')])
    truth = truth_end_to_end(src_csv, sink_csv)
    ages = [r['size'] * 1e-9 for r in read_csv(sampler_csv)]
    print(f'\n{path.name}: {path.count} messages (sink {len(truth)}), hops '
          + ' | '.join(f'{h.topic} {h.publisher}->{h.node}' for h in path.hops))
    assert [h.node for h in path.hops] == ['/A', '/S', '/ssink']
    assert path.count == len(truth) == len(ages) and len(truth) >= MESSAGES // 2 - 2
    assert_mean_close(path.stages['end_to_end'].mean, statistics.mean(truth),
                      'sampled path end-to-end mean')
    age = path.hops[2].stages['sampling_age']
    assert age.count == len(ages)
    assert_mean_close(age.mean, statistics.mean(ages), 'sampling age mean')
    causes = {(c.input, c.output, c.sampled) for c in totals.causes}
    assert causes == {('/s/a', '/s/b', False), ('/s/b', '/s/c', True)}


def test_graph_cli_prints_and_draws_the_inferred_graph(ros, tmp_path):
    start_chain(ros, tmp_path, [('A', '/g/a', '/g/b', 2.0)])
    sink(ros, tmp_path, 'gsink', '/g/b')
    ros.node('processing', 'bystander', params={'topic': '/g/other', 'work_ms': 1.0})
    publish(ros, 'gsrc', '/g/a', count=0, rate=20, start_delay=0.5)
    drawing = tmp_path / 'graph.svg'
    proc = ros.rostrace('graph', '--duration', '6', '--json', '--svg', str(drawing),
                        name='graph')
    wait_for(lambda: proc.poll() is not None, timeout=90, what='rostrace graph to end')
    assert proc.returncode == 0, read_log(proc)
    (graph,) = json_lines(read_log(proc))
    edges = {(e['publisher'], e['topic'], e['subscriber']) for e in graph['edges']}
    assert edges == {('/gsrc', '/g/a', '/A'), ('/A', '/g/b', '/gsink')}
    assert [(c['node'], c['input'], c['output'], c['sampled']) for c in graph['causes']] == [
        ('/A', '/g/a', '/g/b', False)]
    assert all(e['end_to_end'] and e['rate'] > 5 for e in graph['edges'])
    assert '<svg' in drawing.read_text() and '/g/b' in drawing.read_text()
