"""One metrics registry per process, exported in the Prometheus text format.

Components keep their own ``citytrack.counters.Counters`` dataclasses and count as they
work; nothing is copied at count time. A ``MetricsRegistry`` is told where each set lives
(``track(prefix, get_counters)``) and reads them when scraped, as
``citytrack_<prefix>_<field>_total`` counters (gauges without ``_total``), with the
registry's constant labels (e.g. ``device_id``). The hub serves it at ``GET /metrics``;
agents with ``--metrics-port``.

    registry = MetricsRegistry(service="hub")
    registry.track("pipeline", lambda: service.counters)
    registry.exposition()   # bytes in the Prometheus text format
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, generate_latest, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from citytrack.counters import Counters

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


Source = Callable[[], Counters | Mapping[str, int] | None]


class _Tracked(Collector):
    def __init__(
        self, prefix: str, get: Source, labels: Mapping[str, str], gauges: frozenset[str]
    ) -> None:
        self.prefix = prefix
        self.get = get
        self.labels = dict(labels)
        self.gauges = gauges

    def collect(self) -> Iterator[Metric]:
        counters = self.get()
        if counters is None:
            return
        names, values = list(self.labels), list(self.labels.values())
        if isinstance(counters, Counters):
            items, gauges = counters.as_dict(), self.gauges | counters.GAUGES
        else:
            items, gauges = dict(counters), self.gauges
        for field, value in items.items():
            name = f"citytrack_{self.prefix}_{field}"
            family: CounterMetricFamily | GaugeMetricFamily
            if field in gauges:
                family = GaugeMetricFamily(name, f"{self.prefix} {field}", labels=names)
            else:
                family = CounterMetricFamily(name, f"{self.prefix} {field}", labels=names)
            family.add_metric(values, value)
            yield family


class MetricsRegistry:
    """The counters of one process, read when scraped."""

    def __init__(self, **labels: str) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.labels = labels

    def track(self, prefix: str, get: Source, *, gauges: frozenset[str] = frozenset()) -> None:
        """Export what ``get()`` returns (a ``Counters``, a mapping of counts, or None: not
        now) under ``prefix``; ``gauges`` names fields that are not monotonic."""
        self.registry.register(_Tracked(prefix, get, self.labels, gauges))

    def exposition(self) -> bytes:
        """Everything tracked, in the Prometheus text format (``CONTENT_TYPE``)."""
        return generate_latest(self.registry)

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """Serve ``/metrics`` on ``host:port`` from a daemon thread (an agent's endpoint).

        Raises:
            OSError: the port cannot be bound.
        """
        start_http_server(port, addr=host, registry=self.registry)
