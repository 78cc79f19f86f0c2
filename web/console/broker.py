"""Queue depths for the overview, read from the broker's Redis as /metrics reads them."""

from __future__ import annotations

from functools import lru_cache

import redis

from app.config import WORKER_QUEUES
from app.services import ops_metrics


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
