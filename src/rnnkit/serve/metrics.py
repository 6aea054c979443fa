"""Counters for ``GET /metrics``, kept and written out in the Prometheus text format by ``prometheus_client``.

Requests by route and status, request latency and micro-batch sizes as histograms, the largest micro-batch so
far, and the session store's live count, estimated memory and evictions. Each ``Server`` has a registry of
its own, not the client's global one, so two apps in one process neither collide nor count each other.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from rnnkit.serve.server import Server

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
EVICTION_REASONS = ("idle", "lru", "memory")


class Metrics:
    """What the server counts. ``request`` and ``batch`` record; ``render`` writes the exposition text, to be
    served as ``content_type``. The session figures are read from ``server.sessions`` at each render."""

    content_type = CONTENT_TYPE_LATEST  # the format generate_latest writes, of the installed client

    def __init__(self, server: Server):
        self.server = server
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("rnnkit_requests_total", "HTTP requests answered, by route and status.",
                                ("method", "route", "status"), registry=r)
        self.latency = Histogram("rnnkit_request_seconds", "Time from request to the end of the response.",
                                 ("route",), buckets=LATENCY_BUCKETS, registry=r)
        self.batches = Histogram("rnnkit_batch_size", "Requests run together in one micro-batch.",
                                 ("model", "work"), buckets=BATCH_BUCKETS, registry=r)
        self.largest = Gauge("rnnkit_batch_size_max", "The largest micro-batch run so far.", ("model", "work"),
                             registry=r)
        self._largest: dict[tuple[str, str], int] = {}  # a Gauge cannot be asked its value, so the max is kept
        r.register(_SessionFigures(server))

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request under its route template, and how long it took."""
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def batch(self, model: str, key: str, size: int) -> None:
        """Count one micro-batch of ``size`` requests of work ``key`` for ``model``."""
        self.batches.labels(model, key).observe(size)
        if size > self._largest.get((model, key), 0):
            self._largest[model, key] = size
            self.largest.labels(model, key).set(size)

    def render(self) -> str:
        """Every metric of this server in the Prometheus text format."""
        return generate_latest(self.registry).decode("utf-8")


class _SessionFigures(Collector):
    """The session store's own counts, read when scraped: the store keeps them, so nothing is copied here."""

    def __init__(self, server: Server):
        self.server = server

    def collect(self) -> Iterator[Metric]:
        store = self.server.sessions
        yield GaugeMetricFamily("rnnkit_sessions", "Live typing sessions.", value=len(store))
        yield GaugeMetricFamily("rnnkit_session_memory_bytes", "Estimated memory of the live sessions.",
                                value=store.memory_bytes)
        evicted = CounterMetricFamily("rnnkit_sessions_evicted_total", "Sessions removed by the store, by reason.",
                                      labels=("reason",))
        for reason in EVICTION_REASONS:
            evicted.add_metric((reason,), store.evictions[reason])
        yield evicted
