"""Issue 17 (TF): tf2 lookups per frame pair -- count, lookup time, wait time, failures by
kind -- and the TF wait split out of a callback's processing. Real roscore, real roscpp
nodes (ours with their own steady_clock truth; Debian's tf2_ros static_transform_publisher
and buffer_server), real probes; the traced node catches every tf2 exception and must
survive."""
import statistics
import subprocess
import sys

import pytest

from harness import wait_for
from tracing import US, assert_close, publish, read_truth

from rostrace.model.numbers import Window
from rostrace.system.rosapi import Master

LATE = 40           # lookups in a subscription callback, each waiting ~DELAY_MS
DELAY_MS = 30
TIMER_LOOKUPS = 60  # timer firings: every 2nd an unknown frame, every 3rd an island
UNKNOWN, ISLAND = 30, 10


@pytest.fixture(scope='module')
def tracer():
    from rostrace.engine import Tracer
    t = Tracer()
    yield t
    t.close()


def collect_until(tracer, done, what, timeout=60):
    totals = Window(window_s=0.0)

    def check():
        totals.merge(tracer.collect())
        return done(totals)
    wait_for(check, timeout=timeout, interval=0.5, what=what)
    return totals


def test_lookups_waits_and_failures_match_truth(ros, tracer, tmp_path):
    truth = str(tmp_path / 'tf.csv')
    node = ros.node('tf_lookups', 'tf_node', params={
        'delay_ms': DELAY_MS, 'timeout_ms': 1000, 'unknown_timeout_ms': 20,
        'unknown_every': 2, 'island_every': 3, 'timer_lookups': TIMER_LOOKUPS,
        'period_ms': 20, 'start_delay': 4.0, 'evict_type_names': True, 'truth_file': truth})
    target = tracer.attach_node('/tf_node', master=Master(ros.master_uri))
    hits_before = tracer.probes.tables.hits()
    try:
        assert not read_truth(truth), 'lookups began before attaching ended: raise start_delay'
        publish(ros, 'late_pub', '/tf_node/input', count=LATE, rate=10, start_delay=1.0)
        totals = collect_until(
            tracer, lambda w: sum(n.stages['lookup'].count for n in w.tf.values()
                                  if 'lookup' in n.stages) >= LATE + UNKNOWN + ISLAND,
            f'{LATE} late lookups and {TIMER_LOOKUPS} timer firings')
        assert node.poll() is None, 'the traced node died'
        wait_for(lambda: len(read_truth(truth)) >= LATE + UNKNOWN + ISLAND, timeout=10,
                 what='the truth written')
        all_rows = read_truth(truth)
        rows = [r for r in all_rows if r['kind'] == 'late']
        pairs = {(t.target_frame, t.source_frame): t for t in tracer.build_tf(totals)}
        late = pairs['map', 'base_link']
        assert (late.lookups, late.waits, late.failed, late.wait_timeouts) == (LATE, LATE, 0, 0)
        lookup_truth = statistics.mean((r['end_ns'] - r['start_ns']) * 1e-9 for r in rows)
        assert lookup_truth > 0.8 * DELAY_MS * 1e-3
        assert_close(late.stages['wait'].mean, lookup_truth, 'wait (late transform)')
        assert_close(late.stages['lookup'].mean, lookup_truth, 'lookup (late transform)')
        topic = next(b for b in tracer.build(totals) if b.topic == '/tf_node/input')
        cb_truth = [(r['cb_end_ns'] - r['cb_start_ns']) * 1e-9 for r in rows]
        wait = topic.stages['processing_tf_wait']
        print(f'processing {topic.stages["processing"].mean * 1e3:.3f} ms (truth '
              f'{statistics.mean(cb_truth) * 1e3:.3f}), TF wait {wait.mean * 1e3:.3f} ms '
              f'x {wait.count}, share {topic.tf_wait_share():.3f}, frames {topic.tf_wait_frames}')
        assert wait.count == LATE
        assert_close(wait.mean, lookup_truth, 'processing_tf_wait')
        assert topic.tf_wait_share() > 0.9 and topic.tf_wait_frames == ('map', 'base_link')
        # Failures by kind, exact: an unknown frame after a 20 ms wait, an unconnected tree.
        errors = {kind: [r for r in all_rows if r['kind'] == kind]
                  for kind in ('unknown', 'island')}
        assert {r['error'] for r in errors['unknown']} == {'lookup'}
        assert {r['error'] for r in errors['island']} == {'connectivity'}
        ghost, island = pairs['map', 'ghost_frame'], pairs['map', 'island']
        print(f'ghost: {ghost.as_dict()}\nisland: {island.as_dict()}')
        assert (ghost.lookups, ghost.failures['lookup'], ghost.failed, ghost.wait_timeouts) == (
            UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN) == (len(errors['unknown']),) * 4
        assert (island.lookups, island.failures['connectivity'], island.failed,
                island.wait_timeouts) == (ISLAND, ISLAND, ISLAND, 0) == (
                    len(errors['island']),) * 3 + (0,)
        # The node unmapped a type name before each unconnected-tree lookup: the kernel
        # could not read what it threw, the monitor read it from the process.
        unread = [k for k in totals.tf if tracer.tf.frames(k.pair) == ('map', 'island')
                  and tracer.probes.tables.tf_unread_type(k.pid, k.pair)]
        assert unread, 'no lookup threw a type whose name the kernel could not read'
        assert_close(ghost.stages['lookup'].mean, statistics.mean(
            (r['end_ns'] - r['start_ns']) * 1e-9 for r in errors['unknown']), 'lookup (unknown)')
        # Cost, counted in BPF: 4 entry probes per lookup (lookup, wait, the wait's end,
        # core lookup); one that throws, the throw too.
        hits = tracer.probes.tables.hits()
        print(f"hits: tf {hits['tf'] - hits_before['tf']}, throw "
              f"{hits['throw'] - hits_before['throw']}")
        assert hits['tf'] - hits_before['tf'] == 4 * (LATE + UNKNOWN + ISLAND)
        assert hits['throw'] - hits_before['throw'] == UNKNOWN + ISLAND
        # The timer's callbacks: their TF waits split out of their duration.
        timer = next(t for t in tracer.build_timers(totals) if t.pid == topic.pid)
        tf_wait = timer.stages['tf_wait']
        truth_wait = sum((r['end_ns'] - r['start_ns']) * 1e-9 for r in errors['unknown'])
        print(f'timer {timer.timer}: {timer.count} firings, tf_wait sum '
              f'{tf_wait.mean * tf_wait.count * 1e3:.3f} ms, truth {truth_wait * 1e3:.3f} ms')
        assert_close(tf_wait.mean * tf_wait.count, truth_wait, 'timer tf_wait (sum)',
                     floor_s=UNKNOWN * 100 * US)
    finally:
        tracer.detach(target.pid)


CLIENT = """
import sys, rospy, tf2_ros
rospy.init_node('tf_client')
client = tf2_ros.BufferClient('tf2_buffer_server')
client.wait_for_server(rospy.Duration(20))
ok = failed = 0
for i in range(int(sys.argv[1])):
    client.lookup_transform('map', 'laser', rospy.Time(0), rospy.Duration(1.0))
    ok += 1
for i in range(int(sys.argv[2])):
    try:
        client.lookup_transform('map', 'ghost', rospy.Time(0), rospy.Duration(0.05))
    except tf2_ros.TransformException:
        failed += 1
print(ok, failed)
"""


def test_buffer_server_answering_a_client(ros, tracer):
    """Debian's tf2_ros nodes: static_transform_publisher gives map -> base_link ->
    laser, buffer_server answers a Python BufferClient's lookups (N found, M for a frame
    that does not exist); the server's lookups (tf2::BufferCore's, called directly) are
    counted by pair and their failures by kind."""
    found, missing = 10, 5
    for args in (['1', '0', '0', '0', '0', '0', 'map', 'base_link'],
                 ['0.2', '0', '0', '0', '0', '0', 'base_link', 'laser']):
        ros.spawn(['rosrun', 'tf2_ros', 'static_transform_publisher', *args],
                  f'static_{args[-1]}')
    server = ros.spawn(['rosrun', 'tf2_ros', 'buffer_server', '__name:=tf2_buffer_server'],
                       'buffer_server')
    ros.wait_node('/tf2_buffer_server', proc=server)
    target = tracer.attach_node('/tf2_buffer_server', master=Master(ros.master_uri))
    try:
        out = subprocess.run([sys.executable, '-c', CLIENT, str(found), str(missing)],
                             env=ros.env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == [str(found), str(missing)]
        totals = collect_until(tracer, lambda w: sum(n.core_lookups for n in w.tf.values())
                               >= found + missing, f'{found + missing} lookups in the buffer server')
        pairs = {(t.target_frame, t.source_frame): t for t in tracer.build_tf(totals)}
        print({k: (t.lookups, t.failures) for k, t in pairs.items()})
        laser, ghost = pairs['map', 'laser'], pairs['map', 'ghost']
        assert (laser.lookups, laser.failed) == (found, 0)
        assert (ghost.lookups, ghost.failures['lookup'], ghost.failed) == (
            missing, missing, missing)
        # buffer_server calls tf2::BufferCore::lookupTransform itself: counted, not timed
        assert laser.stages['lookup'].count == 0
        assert server.poll() is None, 'the traced buffer server died'
    finally:
        tracer.detach(target.pid)
