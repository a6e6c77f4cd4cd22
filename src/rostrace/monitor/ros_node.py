"""`rostrace_monitor`: the privileged rospy node (wiring, signals, shutdown)."""
import os
import signal
import sys
import time

from ..engine import Tracer
from ..errors import EXIT_USAGE, RostraceError
from ..model.config import ConfigError, load_config
from ..system.host import HOST_ENV, host_name
from ..system.memory import one_malloc_arena
from ..system.preflight import check_all
from ..system.rosapi import Master
from ..views.diagnostics import start_failed_status
from .monitor import STATE_MAX_AGE_S, Monitor

OVERRIDABLE = ('targets', 'publish_rate', 'window', 'monitor_cpu_percent')
METRICS_PORT = 9478         # Prometheus /metrics (the default exporter port range is 9100+)


def _fail(message, hint=None, code=1):
    print(f'rostrace_monitor: error: {message}', file=sys.stderr)
    if hint:
        print(f'  {hint}', file=sys.stderr)
    return code


def _param_overrides(rospy):
    return {key: rospy.get_param('~' + key) for key in OVERRIDABLE if rospy.has_param('~' + key)}


def _publish_failure(rospy, output, message, wait_s=2.0):
    """One ERROR 'rostrace: monitor HOST' status on /diagnostics before the monitor exits, so
    rqt_runtime_monitor and the aggregator show why (listeners get up to `wait_s` to
    connect)."""
    deadline = time.monotonic() + wait_s
    while output.diagnostics.get_num_connections() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    output.publish([], [start_failed_status(host_name(), message)])
    time.sleep(0.3)                                      # let it leave before we do


def _metrics(rospy):
    """The Prometheus endpoint on ~metrics_port (default METRICS_PORT, 0: none), or None
    when it cannot be served (said in the log; the monitor runs on)."""
    port = rospy.get_param('~metrics_port', METRICS_PORT)
    max_topics = rospy.get_param('~metrics_max_topics', 0)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535 or \
            not isinstance(max_topics, int) or max_topics < 0:
        rospy.logerr('rostrace_monitor: ~metrics_port must be a port number (0: no '
                     '/metrics) and ~metrics_max_topics a count: /metrics not served')
        return None
    if not port:
        return None
    try:
        from ..output.metrics import MetricsServer
        server = MetricsServer(host_name(), port=port, max_topics=max_topics or None)
    except ImportError:
        rospy.logerr('rostrace_monitor: python3-prometheus-client is missing (make setup): '
                     '/metrics not served')
        return None
    except OSError as e:
        rospy.logerr(f'rostrace_monitor: cannot serve /metrics on port {port} ({e}); set '
                     '~metrics_port to a free one (0: none)')
        return None
    rospy.loginfo(f'rostrace_monitor: Prometheus metrics on http://{host_name()}:'
                  f'{port}/metrics')
    return server


def _peers(rospy, tracer):
    """The exchange with the monitors of other hosts (~peers, default true): links from
    publishers there get numbers here."""
    if not rospy.get_param('~peers', True):
        return None
    from .peers import PeerExchange
    attachments = tracer.attachments
    return PeerExchange(
        rospy, tracer.enable_remote(host_name()), monitor=rospy.get_name(), host=host_name(),
        announce=lambda: ({t.node for t in attachments.publishers.values()},
                          attachments.wanted_elsewhere()))


def main(argv=None):
    try:
        check_all('rosrun rostrace rostrace_monitor')
    except RostraceError as e:
        return _fail(e, e.hint, e.exit_code)
    one_malloc_arena()   # before rospy starts its threads
    import rospy         # after the checks: a missing privilege says so without ROS noise
    rospy.init_node('rostrace_monitor', argv=argv, disable_signals=True)
    stop = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.append(True))
    host = rospy.get_param('~host', '')
    if host:
        if not isinstance(host, str) or not host.isprintable() or len(host) > 64 \
                or any(c.isspace() for c in host):
            rospy.logerr('rostrace_monitor: ~host must be a name without spaces')
            return _fail(f'~host {str(host)[:80]!r} is not a host name',
                         'give ~host (monitor.launch host:=) a name without spaces, <= 64 '
                         'characters, or leave it empty for the hostname', EXIT_USAGE)
        os.environ[HOST_ENV] = host
    config_path = rospy.get_param('~config', '')
    overrides = _param_overrides(rospy)
    try:
        config = load_config(config_path, overrides=overrides)
    except ConfigError as e:
        rospy.logerr(str(e))
        return _fail(e, 'fix the configuration (see config/monitor.yaml)', EXIT_USAGE)

    from ..output.messages import RosOutput      # rospy: only once the checks passed
    output = RosOutput()
    rospy.loginfo('rostrace_monitor: compiling the BPF program and calibrating probe cost')
    try:
        tracer = Tracer()
    except RostraceError as e:
        rospy.logerr(str(e))
        _publish_failure(rospy, output, str(e))
        return _fail(e, e.hint, e.exit_code)
    master = Master(state_max_age_s=STATE_MAX_AGE_S)
    metrics = _metrics(rospy)
    peers = _peers(rospy, tracer)
    on_window = [f for f in (metrics and metrics.add, peers and peers.after_window) if f]
    if metrics and peers:
        on_window.append(lambda *_: metrics.set_clocks(peers.remote.offsets()))
    monitor = Monitor(config, tracer=tracer, master=master, publish=output.publish,
                      config_path=config_path, own_name=rospy.get_name(), log=rospy.loginfo,
                      on_window=lambda *args: [f(*args) for f in on_window])
    rospy.loginfo(f'rostrace_monitor on {host_name()}: probe cost {tracer.probe_cost_us:.2f} us per pair; '
                  f'{len(config.targets)} target(s), publishing at {config.publish_rate:g} Hz')
    try:
        monitor.run(lambda: bool(stop) or rospy.is_shutdown(), overrides=overrides)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)     # a second Ctrl-C during detach
        if peers is not None:
            peers.close()
        started, count = time.monotonic(), len(monitor.attached)
        monitor.detach_all()
        tracer.close()
        rospy.loginfo(f'rostrace_monitor: detached from {count} target(s) in '
                      f'{time.monotonic() - started:.2f} s')
        if not rospy.is_shutdown():
            monitor.publish_stopped()
            time.sleep(0.3)                              # let subscribers receive it
            rospy.signal_shutdown('stopped')
    return 0
