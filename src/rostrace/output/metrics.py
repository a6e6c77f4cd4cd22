"""The monitor's Prometheus endpoint (Debian's python3-prometheus-client): `/metrics` of
model/metrics.py's MonitorTotals. Every series carries `host`.

  rostrace_messages_total{node, topic, kind}           received / processed / dropped
  rostrace_stage_seconds_bucket{node, topic, stage, le}  (and _sum, _count)
  rostrace_link_messages_total{node, topic, publisher, publisher_host, kind}
  rostrace_link_seconds_bucket{node, topic, publisher, publisher_host, stage, le}
  rostrace_timer_events_total{node, timer, kind}       firings / missed
  rostrace_timer_seconds_bucket{node, timer, stage, le}
  rostrace_service_calls_total{node, service, role, kind}   count / failed
  rostrace_service_seconds_bucket{node, service, role, stage, le}
  rostrace_path_messages_total{node, topic, source, kind}
  rostrace_path_seconds_bucket{node, topic, source, stage, le}
  rostrace_clock_offset_seconds{peer_host}             another host's clock - ours ...
  rostrace_clock_uncertainty_seconds{peer_host}        ... and how sure (links across hosts)
  rostrace_dropped_series{family}                      objects over the cardinality bound
  rostrace_dropped_topics                              (the same for topics)

Scraping runs on prometheus_client's own HTTP thread: it reads a copy taken under a lock.
"""
import threading

from prometheus_client import start_http_server
from prometheus_client.core import (CollectorRegistry, CounterMetricFamily, GaugeMetricFamily,
                                    HistogramMetricFamily)

from ..model.metrics import MonitorTotals, Names

# family -> (counter metric, histogram metric, help text's object)
METRICS = {'topic': ('rostrace_messages', 'rostrace_stage_seconds', 'traced topic'),
           'link': ('rostrace_link_messages', 'rostrace_link_seconds',
                    'publisher -> traced subscriber link'),
           'timer': ('rostrace_timer_events', 'rostrace_timer_seconds', 'roscpp timer'),
           'service': ('rostrace_service_calls', 'rostrace_service_seconds',
                       'roscpp service (server or client)'),
           'path': ('rostrace_path_messages', 'rostrace_path_seconds',
                    'path (source topic -> a callback 2+ hops down)')}


class MetricsServer:
    def __init__(self, host, *, port, address='0.0.0.0', max_topics=None):
        self.host = host
        self.totals = MonitorTotals(**({'max_topics': max_topics} if max_topics else {}))
        self.clocks = {}            # peer host -> model.clocksync.Offset
        self._lock = threading.Lock()
        registry = CollectorRegistry()
        registry.register(self)
        start_http_server(port, addr=address, registry=registry)   # OSError when taken

    def add(self, window, names):
        """A period's Window; `names`: model.metrics.Names, or node_of(pid) alone."""
        if not isinstance(names, Names):
            names = Names(node=names)
        with self._lock:
            self.totals.add(window, names)

    def set_clocks(self, offsets):
        with self._lock:
            self.clocks = {h: o for h, o in offsets.items() if o is not None}

    def collect(self):
        with self._lock:
            copies = {name: ({k: dict(v) for k, v in t.counts.items()},
                             {k: (h.cumulative(), h.sum_ns) for k, h in t.stages.items()},
                             t.dropped, t.family)
                      for name, t in self.totals.families.items()}
            clocks = dict(self.clocks)
        out = []
        for name, (counts, stages, _, family) in copies.items():
            counter_name, histogram_name, what = METRICS[name]
            labels = ['host', *family.labels]
            counter = CounterMetricFamily(counter_name, f'Counts of a {what} since the '
                                          'monitor started', labels=[*labels, 'kind'])
            for key, by_kind in sorted(counts.items()):
                for kind, n in by_kind.items():
                    counter.add_metric([self.host, *key, kind], n)
            seconds = HistogramMetricFamily(histogram_name, f'Per-message stage of a {what} '
                                            '(one bucket per power of two)',
                                            labels=[*labels, 'stage'])
            for key, (buckets, sum_ns) in sorted(stages.items()):
                seconds.add_metric([self.host, *key],
                                   [(le if isinstance(le, str) else repr(le), n)
                                    for le, n in buckets], sum_value=sum_ns / 1e9)
            out += [counter, seconds]
        offset = GaugeMetricFamily('rostrace_clock_offset_seconds', "Another monitor's host "
                                   'clock - ours (estimated from pings)',
                                   labels=['host', 'peer_host'])
        uncertainty = GaugeMetricFamily('rostrace_clock_uncertainty_seconds', 'The offset '
                                        'lies within +- this', labels=['host', 'peer_host'])
        for peer, o in sorted(clocks.items()):
            offset.add_metric([self.host, peer], o.offset_ns / 1e9)
            uncertainty.add_metric([self.host, peer], o.uncertainty_ns / 1e9)
        dropped = GaugeMetricFamily('rostrace_dropped_series', 'Objects not exported '
                                    '(cardinality bound)', labels=['host', 'family'])
        for name, (_, _, n, _) in copies.items():
            dropped.add_metric([self.host, name], n)
        topics = GaugeMetricFamily('rostrace_dropped_topics', 'Traced topics not exported '
                                   '(cardinality bound)', labels=['host'])
        topics.add_metric([self.host], copies['topic'][2])
        return out + [offset, uncertainty, dropped, topics]
