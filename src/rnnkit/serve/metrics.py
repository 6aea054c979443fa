"""Counters for ``GET /metrics`` in the Prometheus text format (version 0.0.4), written out by hand.

Requests by route and status, request latency and micro-batch sizes as histograms, and the session store's
live count, estimated memory and evictions.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rnnkit.serve.server import Server

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class Histogram:
    """Cumulative bucket counts, sum and count of observed values, as Prometheus keeps them."""

    def __init__(self, bounds: tuple[float, ...]):
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.sum, self.count = 0.0, 0

    def observe(self, value: float) -> None:
        i = next((j for j, b in enumerate(self.bounds) if value <= b), len(self.bounds))
        self.counts[i] += 1
        self.sum += value
        self.count += 1

    def lines(self, name: str, labels: str) -> list[str]:
        out, running = [], 0
        for bound, n in zip((*self.bounds, math.inf), self.counts):
            running += n
            le = "+Inf" if bound == math.inf else f"{bound:g}"
            out.append(f'{name}_bucket{{{labels}{"," if labels else ""}le="{le}"}} {running}')
        return [*out, f"{name}_sum{{{labels}}} {self.sum:.6f}", f"{name}_count{{{labels}}} {self.count}"]


class Metrics:
    """What the server counts. ``request`` and ``batch`` record; ``render`` writes the exposition text."""

    def __init__(self, server: Server):
        self.server = server
        self.requests: Counter[tuple[str, str, str]] = Counter()  # (method, route, status) -> count
        self.latency: defaultdict[str, Histogram] = defaultdict(lambda: Histogram(LATENCY_BUCKETS))
        self.batches: defaultdict[tuple[str, str], Histogram] = defaultdict(lambda: Histogram(BATCH_BUCKETS))
        self.largest: Counter[tuple[str, str]] = Counter()  # (model, work) -> largest batch so far

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests[method, route, str(status)] += 1
        self.latency[route].observe(seconds)

    def batch(self, model: str, key: str, size: int) -> None:
        self.batches[model, key].observe(size)
        self.largest[model, key] = max(self.largest[model, key], size)


    def render(self) -> str:
        store = self.server.sessions
        live = len(store)
        lines = _header("rnnkit_requests_total", "counter", "HTTP requests answered, by route and status.")
        for (method, route, status), n in sorted(self.requests.items()):
            lines.append(f'rnnkit_requests_total{{method="{method}",route="{_esc(route)}",status="{status}"}} {n}')
        lines += _header("rnnkit_request_seconds", "histogram", "Time from request to the end of the response.")
        for route, h in sorted(self.latency.items()):
            lines += h.lines("rnnkit_request_seconds", f'route="{_esc(route)}"')
        lines += _header("rnnkit_batch_size", "histogram", "Requests run together in one micro-batch.")
        for (model, key), h in sorted(self.batches.items()):
            lines += h.lines("rnnkit_batch_size", f'model="{_esc(model)}",work="{key}"')
        lines += _header("rnnkit_batch_size_max", "gauge", "The largest micro-batch run so far.")
        for (model, key), n in sorted(self.largest.items()):
            lines.append(f'rnnkit_batch_size_max{{model="{_esc(model)}",work="{key}"}} {n}')
        lines += _header("rnnkit_sessions", "gauge", "Live typing sessions.")
        lines.append(f"rnnkit_sessions {live}")
        lines += _header("rnnkit_session_memory_bytes", "gauge", "Estimated memory of the live sessions.")
        lines.append(f"rnnkit_session_memory_bytes {store.memory_bytes}")
        lines += _header("rnnkit_sessions_evicted_total", "counter", "Sessions removed by the store, by reason.")
        for reason in ("idle", "lru", "memory"):
            lines.append(f'rnnkit_sessions_evicted_total{{reason="{reason}"}} {store.evictions[reason]}')
        return "\n".join(lines) + "\n"


def _header(name: str, kind: str, help_text: str) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
