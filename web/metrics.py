"""Prometheus `/metrics` of the API: its own requests, and the fleet's figures read on scrape.

Request counters live in each gunicorn worker process. When PROMETHEUS_MULTIPROC_DIR is set
(web/gunicorn_conf.py sets it up), prometheus_client keeps them in per-process files and a
scrape, whichever worker answers it, sums every process; without it (the Flask test client,
`flask run`) they are ordinary in-process metrics.

The fleet figures (task counts, queue depths, outbox lag, dead letters, margin events, batch
progress) come from Postgres and Redis at scrape time, each source bounded by a timeout, so a
slow database costs a scrape a few seconds and a `fusion_metrics_source_up 0`, never a hang.

Access: unauthenticated unless METRICS_TOKEN is set, then `Authorization: Bearer <token>`. No
label carries an account id, a name or any other personal data.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

import redis
from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client import generate_latest as render
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from app.config import WORKER_QUEUES, Settings
from app.logs import get_logger
from app.persistence.db import unit_of_work
from app.services import ops_metrics
from app.services.ops_metrics import BrokerFigures, DatabaseFigures

log = get_logger(__name__)
bp = Blueprint("metrics", __name__)
T = TypeVar("T")

SOURCE_TIMEOUT_SECONDS = 3.0
# Requests that matched no route share one label, so probing random paths adds no series.
UNMATCHED_ROUTE = "<unmatched>"

_LOCAL = CollectorRegistry()
REQUESTS = Counter("fusion_http_requests", "HTTP requests by route, method and status",
                   ["route", "method", "status"], registry=_LOCAL)
LATENCY = Histogram("fusion_http_request_duration_seconds", "HTTP request latency by route",
                    ["route", "method"], registry=_LOCAL,
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))

# Two threads: one per source. A source stuck past its timeout keeps its thread busy, and the
# next scrape's call then waits behind it and times out too — bounded, not piling up.
_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="metrics")
_redis_clients: dict[str, redis.Redis] = {}


def install_metrics(app: Flask) -> None:
    """Count every request by its route template (bounded cardinality, no ids in labels)."""

    @app.before_request
    def _start() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        route = request.url_rule.rule if request.url_rule else UNMATCHED_ROUTE
        elapsed = time.perf_counter() - g.get("metrics_started", time.perf_counter())
        REQUESTS.labels(route, request.method, str(response.status_code)).inc()
        LATENCY.labels(route, request.method).observe(elapsed)
        return response

    app.register_blueprint(bp)


@bp.get("/metrics")
def metrics() -> Response:
    settings: Settings = current_app.config["SETTINGS"]
    token = settings.metrics_token.get_secret_value()
    if token:
        offered = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(offered.encode(), token.encode()):
            return Response("metrics token required\n", status=401, mimetype="text/plain",
                            headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_LOCAL)
    registry.register(FleetCollector(settings))
    return Response(render(registry), mimetype=CONTENT_TYPE_LATEST)


def _bounded(source: str, work: Callable[[], T]) -> tuple[T | None, float]:
    started = time.perf_counter()
    future = _pool.submit(work)
    try:
        return future.result(timeout=SOURCE_TIMEOUT_SECONDS), time.perf_counter() - started
    except FutureTimeout:
        log.warning("metrics.source_timeout", source=source)
    except Exception as exc:  # a broken source is reported as down, the others still answer
        log.warning("metrics.source_failed", source=source, error=type(exc).__name__)
    return None, time.perf_counter() - started


def _database() -> DatabaseFigures:
    with unit_of_work() as session:
        return ops_metrics.database_figures(session)


def _redis_for(url: str) -> redis.Redis:
    if url not in _redis_clients:
        _redis_clients[url] = redis.Redis.from_url(url, socket_timeout=2.0,
                                                   socket_connect_timeout=2.0)
    return _redis_clients[url]


class FleetCollector:
    """Queries Postgres and Redis on each scrape; the figures are fleet-wide."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def collect(self) -> Iterator[Metric]:
        client = _redis_for(self.settings.celery_broker_url)
        broker, broker_seconds = _bounded(
            "broker", lambda: ops_metrics.broker_figures(client, WORKER_QUEUES))
        database, database_seconds = _bounded("database", _database)
        up = GaugeMetricFamily("fusion_metrics_source_up",
                               "1 if the source answered this scrape in time", labels=["source"])
        up.add_metric(["broker"], 1.0 if broker is not None else 0.0)
        up.add_metric(["database"], 1.0 if database is not None else 0.0)
        took = GaugeMetricFamily("fusion_metrics_source_seconds", "Time to read the source",
                                 labels=["source"])
        took.add_metric(["broker"], broker_seconds)
        took.add_metric(["database"], database_seconds)
        yield from (up, took)
        if broker is not None:
            yield from _broker_metrics(broker)
        if database is not None:
            yield from _database_metrics(database)


def _broker_metrics(figures: BrokerFigures) -> Iterator[Metric]:
    tasks = CounterMetricFamily("fusion_tasks", "Task events by task name and state, fleet-wide",
                                labels=["task", "state"])
    for (name, state), n in sorted(figures.tasks.items()):
        tasks.add_metric([name, state], n)
    depth = GaugeMetricFamily("fusion_queue_depth", "Messages waiting in the queue",
                              labels=["queue"])
    for queue, n in figures.queue_depth.items():
        depth.add_metric([queue], n)
    unacked = GaugeMetricFamily("fusion_queue_unacked",
                                "Messages delivered to workers and not acked yet (all queues)")
    unacked.add_metric([], figures.unacked)
    yield from (tasks, depth, unacked)


def _database_metrics(figures: DatabaseFigures) -> Iterator[Metric]:
    unsent = GaugeMetricFamily("fusion_outbox_unsent", "Outbox rows not published yet")
    unsent.add_metric([], figures.outbox_unsent)
    lag = GaugeMetricFamily("fusion_outbox_lag_seconds",
                            "Age of the oldest unpublished outbox row (0 when none)")
    lag.add_metric([], figures.outbox_oldest_unsent_age_seconds)
    letters = GaugeMetricFamily("fusion_dead_letters", "Dead letters by reason and state",
                                labels=["reason", "state"])
    for (reason, state), n in sorted(figures.dead_letters.items()):
        letters.add_metric([reason, state], n)
    margin = CounterMetricFamily("fusion_margin_events", "Margin events by type",
                                 labels=["event_type"])
    for kind, n in sorted(figures.margin_events.items()):
        margin.add_metric([kind], n)
    yield from (unsent, lag, letters, margin, *_batch_metrics(figures))


def _batch_metrics(figures: DatabaseFigures) -> Iterator[Metric]:
    batches = GaugeMetricFamily("fusion_batches", "Recent batch jobs by kind and status",
                                labels=["kind", "status"])
    for (kind, status), n in sorted(figures.batches.items()):
        batches.add_metric([kind, status], n)
    labels = ["batch_id", "kind"]
    families: dict[str, Any] = {
        "total": GaugeMetricFamily("fusion_batch_items", "Items in a running batch", labels=labels),
        "done": GaugeMetricFamily("fusion_batch_items_done", "Items of a running batch done",
                                  labels=labels),
        "failed": GaugeMetricFamily("fusion_batch_items_failed",
                                    "Items of a running batch that failed", labels=labels),
    }
    for batch in figures.running_batches:
        for attribute, family in families.items():
            family.add_metric([batch.id, batch.kind], getattr(batch, attribute))
    yield batches
    yield from families.values()
