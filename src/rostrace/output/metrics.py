"""The monitor's Prometheus endpoint (Debian's python3-prometheus-client): `/metrics` of
model/metrics.py's TopicTotals, with host, node, topic and stage labels.

  rostrace_messages_total{host, node, topic, kind}      received / processed / dropped
  rostrace_stage_seconds_bucket{host, node, topic, stage, le}  (and _sum, _count)
  rostrace_dropped_topics{host}                         topics over the cardinality bound

Scraping runs on prometheus_client's own HTTP thread: it reads a copy taken under a lock.
"""
import threading

from prometheus_client import start_http_server
from prometheus_client.core import (CollectorRegistry, CounterMetricFamily, GaugeMetricFamily,
                                    HistogramMetricFamily)

from ..model.metrics import TopicTotals


class MetricsServer:
    def __init__(self, host, *, port, address='0.0.0.0', max_topics=None):
        self.host = host
        self.totals = TopicTotals(**({'max_topics': max_topics} if max_topics else {}))
        self._lock = threading.Lock()
        registry = CollectorRegistry()
        registry.register(self)
        start_http_server(port, addr=address, registry=registry)   # OSError when taken

    def add(self, window, node_of):
        with self._lock:
            self.totals.add(window, node_of)

    def collect(self):
        with self._lock:
            counts = {k: dict(v) for k, v in self.totals.counts.items()}
            stages = {k: (h.cumulative(), h.sum_ns) for k, h in self.totals.stages.items()}
            dropped = self.totals.dropped_topics
        messages = CounterMetricFamily('rostrace_messages', 'Messages of a traced topic since '
                                       'the monitor started', labels=['host', 'node', 'topic',
                                                                      'kind'])
        for (node, topic), by_kind in sorted(counts.items()):
            for kind, n in by_kind.items():
                messages.add_metric([self.host, node, topic, kind], n)
        seconds = HistogramMetricFamily('rostrace_stage_seconds', 'Per-message stage of a '
                                        'traced topic (one bucket per power of two)',
                                        labels=['host', 'node', 'topic', 'stage'])
        for (node, topic, stage), (buckets, sum_ns) in sorted(stages.items()):
            seconds.add_metric([self.host, node, topic, stage],
                               [(le if isinstance(le, str) else repr(le), n)
                                for le, n in buckets], sum_value=sum_ns / 1e9)
        gauge = GaugeMetricFamily('rostrace_dropped_topics', 'Traced topics not exported '
                                  '(cardinality bound)', labels=['host'])
        gauge.add_metric([self.host], dropped)
        return [messages, seconds, gauge]
