"""Liveness and Prometheus metrics of a bridge process, on one small HTTP port."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

REGISTRY = CollectorRegistry()
RECEIVED = Counter("bridge_messages_received", "Messages pulled", ["subscription"],
                   registry=REGISTRY)
ENQUEUED = Counter("bridge_messages_enqueued", "Messages enqueued to Celery and acked",
                   ["subscription"], registry=REGISTRY)
DEAD_LETTERED = Counter("bridge_messages_dead_lettered", "Messages dead-lettered and acked",
                        ["subscription", "reason"], registry=REGISTRY)
NACKED = Counter("bridge_messages_nacked", "Messages nacked for redelivery",
                 ["subscription", "cause"], registry=REGISTRY)
ENQUEUE_SECONDS = Histogram("bridge_enqueue_seconds", "Receipt to broker-accepted latency",
                            ["subscription"], registry=REGISTRY,
                            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5))


class RelayCollector:
    """Reads the outbox relay's own counters at scrape time, so the loop pays nothing."""

    def __init__(self, relay: Any) -> None:
        self.relay = relay

    def collect(self) -> Iterator[Metric]:
        published = CounterMetricFamily("outbox_rows_published", "Outbox rows published")
        published.add_metric([], self.relay.published)
        failed = CounterMetricFamily("outbox_publish_failures", "Outbox rows whose publish failed")
        failed.add_metric([], self.relay.failed)
        lag = GaugeMetricFamily("outbox_lag_seconds", "Age of the oldest unpublished outbox row")
        lag.add_metric([], self.relay.last_lag_seconds)
        yield from (published, failed, lag)


def watch_relay(relay: Any) -> None:
    REGISTRY.register(RelayCollector(relay))


def serve(port: int, alive: Callable[[], bool], host: str = "127.0.0.1"
          ) -> ThreadingHTTPServer | None:
    """/healthz answers 200 while `alive()`; /metrics is the Prometheus text format."""
    if port == 0:
        return None

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                body, status, kind = generate_latest(REGISTRY), 200, CONTENT_TYPE_LATEST
            elif self.path == "/healthz":
                ok = alive()
                body = b'{"status":"ok"}' if ok else b'{"status":"stopped"}'
                status, kind = (200 if ok else 503), "application/json"
            else:
                body, status, kind = b"not found", 404, "text/plain"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
