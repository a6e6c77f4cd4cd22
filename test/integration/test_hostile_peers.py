"""Issue 12: nodes that register with the real master but answer nonsense on their
XML-RPC port, claim another process's PID or die while being attached. Each is one ERROR
status naming it; the monitor goes on publishing a healthy target's breakdowns every
period and puts no probe into any process but its targets (int3 bytes read back)."""
import os
import time

from harness import PY, free_port, wait_for
from monitoring import MONITOR, echo, echoed, start_monitor, statuses, write_config
from tracing import breakpoints, node_pid, publish

# A fake node: serves `behaviour` on a TCP port and registers with the master as a
# subscriber of /hostile/topic with that port as its slave API (or with `uri` as is).
PEER = r'''
import os, socket, sys, threading, time, xmlrpc.client
master, name, behaviour, port, uri, victim = sys.argv[1:7]
publisher = behaviour.startswith('pub_')        # registers as a publisher of the topic
behaviour = behaviour[4:] if publisher else behaviour
host = '::1' if behaviour == 'spoof' else '127.0.0.1'
uri = uri or ('http://[::1]:%s/' % port if behaviour == 'spoof' else f'http://127.0.0.1:{port}/')

def reply(conn, value):
    body = xmlrpc.client.dumps(((1, 'ok', value),), methodresponse=True).encode()
    conn.sendall(b'HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n' % len(body) + body)

def serve(conn):
    conn.recv(65536)
    if behaviour == 'garbage':
        conn.sendall(b'SSH-2.0-OpenSSH_9.2\r\n\x00\xff')
    elif behaviour == 'trickle':
        try:
            conn.sendall(b'HTTP/1.0 200 OK\r\nX-Slow: ')
            while True:                 # one byte per 50 ms, never the end of the headers
                conn.sendall(b'a')
                time.sleep(0.05)
        except OSError:
            pass
    elif behaviour == 'bool_pid':
        reply(conn, True)
    elif behaviour == 'str_pid':
        reply(conn, '4242')
    elif behaviour == 'bad_xml':
        conn.sendall(b'HTTP/1.0 200 OK\r\nContent-Length: 12\r\n\r\n<methodRespo')
    elif behaviour == 'spoof':          # another process's PID, from [::1] on its port
        reply(conn, int(victim))
    elif behaviour == 'dies':           # its own PID, then it is gone
        reply(conn, os.getpid())
        conn.close()
        os._exit(0)
    conn.close()

if behaviour not in ('noport', 'badport'):
    srv = socket.socket(socket.AF_INET6 if host == '::1' else socket.AF_INET)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if host == '::1':
        srv.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    srv.bind((host, int(port)))
    srv.listen(16)
    threading.Thread(target=lambda: [threading.Thread(target=serve, args=(c,), daemon=True)
                                     .start() for c, _ in iter(srv.accept, None)],
                     daemon=True).start()
if publisher:
    xmlrpc.client.ServerProxy(master).registerPublisher(name, '/processing/data', '*', uri)
else:
    xmlrpc.client.ServerProxy(master).registerSubscriber(name, '/hostile/topic',
                                                         'std_msgs/Empty', uri)
print('registered', flush=True)
time.sleep(3600)
'''
PEERS = {  # name -> (behaviour, uri override, what the ERROR must say)
    '/hostile_garbage': ('garbage', '', 'not an HTTP reply'),
    '/hostile_trickle': ('trickle', '', 'within the deadline'),
    '/hostile_bool_pid': ('bool_pid', '', 'getPid answered True'),
    '/hostile_str_pid': ('str_pid', '', "getPid answered '4242'"),
    '/hostile_bad_xml': ('bad_xml', '', 'not an XML-RPC reply'),
    '/hostile_noport': ('noport', 'http://127.0.0.1/', 'URI without a port'),
    '/hostile_badport': ('badport', 'http://127.0.0.1:99999/', 'bad URI'),
    # Serves getPid on [::1]:P answering the PID of /victim, a roscpp node listening on
    # 0.0.0.0:P (the same port number): the connection proves it is not /victim.
    '/hostile_spoof': ('spoof', '', 'does not hold the connection'),
    '/hostile_dies': ('dies', '', 'not running'),
}


def test_hostile_peers_are_one_error_each_and_the_healthy_target_goes_on(ros, tmp_path):
    ros.node('processing', 'healthy', params={'work_ms': 1.0})
    ros.node('processing', 'victim', params={'work_ms': 1.0})
    publish(ros, 'healthy_pub', '/processing/data', count=100000, rate=50)
    _, _, victim_uri = ros.master().lookupNode('/test', '/victim')
    victim_pid, victim_port = node_pid(ros, '/victim'), victim_uri.rstrip('/').rsplit(':', 1)[1]
    peers = {}
    for name, (behaviour, uri, _) in PEERS.items():
        port = victim_port if behaviour == 'spoof' else str(free_port())
        peers[name] = ros.spawn([PY, '-c', PEER, ros.master_uri, name, behaviour, port, uri,
                                 str(victim_pid)], name[1:]), port
    wait_for(lambda: all(n in ros.master().getSystemState('/t')[2][1][-1][1] for n in PEERS)
             if any(t == '/hostile/topic' for t, _ in ros.master().getSystemState('/t')[2][1])
             else False, timeout=30, what='the hostile peers registered')
    config = write_config(tmp_path / 'm.yaml', '''
publish_rate: 2
targets:
  - node: /healthy
  - node: /hostile_*
''')
    diagnostics = echo(ros, '/diagnostics', 'echo_diag')
    latency = echo(ros, '/rostrace/latency', 'echo_latency')
    monitor = start_monitor(ros, config, attached=['/healthy'])

    def errors():
        found = {}
        for name in PEERS:
            got = statuses(diagnostics, f'rostrace: {name}')
            if got and got[-1]['level'] == 2:
                found[name] = got[-1]['message']
        return found if len(found) == len(PEERS) else None
    found = wait_for(errors, timeout=60, interval=0.5, what='an ERROR per hostile peer')
    for name, (_, _, reason) in PEERS.items():
        print(f'\n{name}: {found[name]}')
        assert reason in found[name], (name, found[name])      # status name: rostrace: NODE

    # The healthy target's breakdowns keep coming every period (2 Hz) meanwhile.
    before = len([m for m in echoed(latency) if m['node'] == '/healthy'])
    time.sleep(6.0)
    during = [m for m in echoed(latency) if m['node'] == '/healthy'][before:]
    # 12 periods, minus edges; on a loaded 2-core machine one window may close late
    # (then the next holds its messages): no gap of more than two periods.
    stamps = [m['header']['stamp']['secs'] + m['header']['stamp']['nsecs'] / 1e9
              for m in during]
    assert len(during) >= 9, len(during)
    assert max(b - a for a, b in zip(stamps, stamps[1:])) <= 1.05, stamps
    assert all(m['processed'] > 0 for m in during[1:-1])
    monitor_status = statuses(diagnostics, MONITOR)[-1]
    attached = dict((v['key'], v['value']) for v in monitor_status['values'])['attached']
    assert attached.startswith('/healthy (') and attached.count('(') == 1, attached
    assert monitor.poll() is None
    # No breakpoint in the spoofed roscpp process (the peers hold no roscpp to probe).
    assert os.path.exists(f'/proc/{victim_pid}')
    assert breakpoints(victim_pid) == set()

    # A node the pattern matched that left the master: its status goes with it.
    proc, port = peers['/hostile_garbage']
    ros.stop(proc)
    ros.master().unregisterSubscriber('/hostile_garbage', '/hostile/topic',
                                      f'http://127.0.0.1:{port}/')

    def latest_names():
        msgs = [m for m in echoed(diagnostics)
                if any(s['name'] == MONITOR for s in m.get('status', []))]
        return {s['name'] for s in msgs[-1]['status']} if msgs else set()
    wait_for(lambda: 'rostrace: /hostile_garbage' not in latest_names(), timeout=30,
             interval=0.5, what='the status of the node that left removed')
    assert 'rostrace: /hostile_trickle' in latest_names()


def test_untraceable_publishers_are_noted_briefly_and_forgotten_when_gone(ros, tmp_path):
    """Publishers of a traced topic that cannot be traced (here: twelve that answer
    garbage) are a short note on its breakdowns, retried with backoff, and the note
    forgets them once they left the master."""
    ros.node('processing', 'healthy', params={'work_ms': 1.0})
    publish(ros, 'healthy_pub', '/processing/data', count=100000, rate=50)
    fakes = {}
    for i in range(12):
        name, port = f'/fake_pub_{i:02d}', free_port()
        fakes[name] = (ros.spawn([PY, '-c', PEER, ros.master_uri, name, 'pub_garbage',
                                  str(port), '', '0'], name[1:]),
                       f'http://127.0.0.1:{port}/')
    config = write_config(tmp_path / 'm.yaml', 'publish_rate: 2\ntargets:\n  - node: /healthy\n')
    latency = echo(ros, '/rostrace/latency', 'echo_latency')
    start_monitor(ros, config, attached=['/healthy'])

    def note():
        got = [m for m in echoed(latency) if m['node'] == '/healthy']
        return got[-1]['transport_note'] if got else None
    wait_for(lambda: 'and 9 more publishers not traced' in (note() or ''), timeout=60,
             interval=0.5, what='the untraced publishers noted')
    text = note()
    print(f'\nnote: {text}')
    assert len(text) < 1000 and text.count('publisher /fake_pub_') == 3, text
    wait_for(lambda: [p['publisher'] for p in [m for m in echoed(latency)
                                               if m['node'] == '/healthy'][-1]['publishers']]
             == ['/healthy_pub'], timeout=30, interval=0.5, what='the traced publisher linked')
    master = ros.master()
    for name, (proc, uri) in fakes.items():
        ros.stop(proc)
        master.unregisterPublisher(name, '/processing/data', uri)
    wait_for(lambda: note() == '', timeout=30, interval=0.5, what='the note emptied')


# A fake rostrace monitor on /rostrace/peers and /rostrace/sent: every kind of nonsense
# another "monitor" can send (the types are right: rospy checks them; the contents not).
FAKE_MONITOR = r'''
import sys, time, rospy
from rostrace.msg import MonitorPing, SentConnection, SentMessages
victim = sys.argv[1]
rospy.init_node('fake_monitor')
pings = rospy.Publisher('/rostrace/peers', MonitorPing, queue_size=100)
sent = rospy.Publisher('/rostrace/sent', SentMessages, queue_size=100)
time.sleep(2.0)
now = time.time_ns()
for i in range(200):
    # a request with thousands of addresses and names, and absurd ones
    pings.publish(MonitorPing(monitor='/fake', host='evil', seq=i, t_replied=-2**63,
                              addresses=['10.0.0.%d' % (i % 250), 'not an ip', ''] * 2000,
                              traced_publishers=['/x' * 200] * 1000,
                              wanted_publishers=['\x00bad', '/talker'] * 1000))
    # replies to requests never made, and impossible times
    pings.publish(MonitorPing(monitor='/fake', host='evil', seq=i, to_monitor=victim,
                              t_request=now, t_received=now - 10**12, t_replied=0))
    sent.publish(SentMessages(monitor='/fake', host='evil', cut=2**64 - 1, connections=[
        SentConnection(publisher='/talker', publisher_address='::::1:99999',
                       subscriber_address='x', sizes=[1, 2], hashes=[3]),
        SentConnection(publisher='/talker', publisher_address='10.0.0.1:1',
                       subscriber_address='10.0.0.2:2', sizes=[1] * 30000,
                       hashes=[1] * 30000, t_publish=[1] * 30000, t_serialized=[1] * 30000,
                       t_sent=[1] * 30000),
        SentConnection(publisher='/talker', publisher_address='10.0.0.1:1',
                       subscriber_address='10.0.0.2:2', sizes=[5], hashes=[2**64 - 1],
                       t_publish=[-2**63], t_serialized=[2**63 - 1], t_sent=[0])]))
    time.sleep(0.02)
'''


def test_a_hostile_monitor_is_refused_and_the_monitor_goes_on(ros, tmp_path):
    """Nonsense on the monitors' own topics (issue 18): counted as refused on the
    monitor's status; the monitor keeps publishing a healthy target's breakdowns."""
    config = write_config(tmp_path / 'm.yaml', 'publish_rate: 2\nwindow: 2\n'
                          'targets:\n  - node: /healthy\n')
    latency = echo(ros, '/rostrace/latency', 'echo_latency')
    diagnostics = echo(ros, '/diagnostics', 'echo_diagnostics')
    ros.node('processing', 'healthy', params={'work_ms': 1.0})
    monitor = start_monitor(ros, config, attached=['/healthy'])
    publish(ros, 'healthy_pub', '/processing/data', count=100000, rate=20, start_delay=0.5)
    script = tmp_path / 'fake_monitor.py'
    script.write_text(FAKE_MONITOR)
    fake = ros.spawn([PY, str(script), '/rostrace_monitor'], 'fake_monitor')
    assert fake.wait(timeout=60) == 0, open(fake.log_path).read()[-2000:]

    def refused():
        got = statuses(diagnostics, MONITOR)
        values = dict((v['key'], v['value']) for v in got[-1]['values']) if got else {}
        return int(values.get('messages of other monitors refused', 0)) or None
    print(f'\nrefused: {wait_for(refused, timeout=20, interval=0.5, what="refusals counted")}')
    before = len([m for m in echoed(latency) if m['node'] == '/healthy'])
    time.sleep(3.0)
    during = [m for m in echoed(latency) if m['node'] == '/healthy'][before:]
    assert len(during) >= 4 and all(m['processed'] > 0 for m in during[1:])
    assert monitor.poll() is None
    assert statuses(diagnostics, MONITOR)[-1]['level'] == 0
