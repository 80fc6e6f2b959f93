"""Prometheus metrics of one app (its own registry, so several apps in a process never clash)."""

from __future__ import annotations

from typing import Any

from omnivec.errors import require


class Metrics:
    """Request counts and latency per route, batch sizes per model, queue depth per model."""

    def __init__(self) -> None:
        prom = require("prometheus_client", "server", "the /metrics endpoint")
        self._prom = prom
        self.registry = prom.CollectorRegistry()
        r = self.registry
        self.requests = prom.Counter(
            "omnivec_requests", "HTTP requests answered", ["route", "method", "status"], registry=r
        )
        self.latency = prom.Histogram(
            "omnivec_request_seconds", "Time to answer a request", ["route"], registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )  # fmt: skip
        self.batch_items = prom.Histogram(
            "omnivec_embed_batch_items", "Items per shared forward pass (dynamic batching)", ["model"],
            registry=r, buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096),
        )  # fmt: skip
        self.batch_requests = prom.Histogram(
            "omnivec_embed_batch_requests", "Requests served by one shared forward pass", ["model"],
            registry=r, buckets=(1, 2, 4, 8, 16, 32, 64, 128),
        )  # fmt: skip
        self.queue_depth = prom.Gauge(
            "omnivec_embed_queue_items", "Items waiting for a forward pass", ["model"], registry=r
        )

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def observe_batch(self, model: str, items: int, requests: int) -> None:
        self.batch_items.labels(model).observe(items)
        self.batch_requests.labels(model).observe(requests)

    def track_queue(self, model: str, depth: Any) -> None:
        """`depth` is called at scrape time (summed over the model's queues)."""
        self.queue_depth.labels(model).set_function(depth)

    def render(self) -> tuple[bytes, str]:
        return self._prom.generate_latest(self.registry), self._prom.CONTENT_TYPE_LATEST
