"""Queue depths for the overview, read from the broker's Redis as /metrics reads them, and
their history (with the outbox's lag) from the samples beat keeps there."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

import redis

from app.config import WORKER_QUEUES
from app.services import ops_history, ops_metrics
from web.console import charts


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    # Short timeouts: a broker outage makes the overview say so, not hang.
    return redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)


def queue_depths(broker_url: str) -> dict[str, int] | None:
    """Messages waiting per queue, or None when the broker cannot be reached."""
    try:
        return ops_metrics.broker_figures(_client(broker_url), WORKER_QUEUES).queue_depth
    except redis.RedisError:
        return None


def ops_charts(broker_url: str, start: datetime, end: datetime) -> dict[str, charts.Chart]:
    """Queue depth per queue and the outbox's lag over [start, end]; none without the broker."""
    try:
        samples = ops_history.since(_client(broker_url), start)
    except redis.RedisError:
        return {}
    depth = {q: [(s.at, float(s.queue_depth.get(q, 0))) for s in samples] for q in WORKER_QUEUES}
    lag = {"outbox lag": [(s.at, s.outbox_lag_seconds) for s in samples]}
    return {"depth_history": charts.lines("Queue depth over time", depth, start, end,
                                          y_unit="messages", x_unit="sampled at (UTC)"),
            "lag_history": charts.lines("Outbox lag over time", lag, start, end,
                                        y_unit="seconds", x_unit="sampled at (UTC)")}
