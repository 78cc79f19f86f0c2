"""The worker hooks' own client of the broker's Redis: delivery counts and quarantine marks
(tasks/fleet_signals.py), task state counts and fleet counters (tasks/task_metrics.py).

One per process, made on first use; None when the broker is not Redis. Every use is best
effort and must not hold a task up, hence the short timeouts. A forked child (a pool process)
makes its own: the parent's metrics flusher thread may hold the parent client's pool locks at
the moment of the fork, and a child inheriting a held lock would hang on its first use.
"""

from __future__ import annotations

import os
from functools import lru_cache

import redis

from app.config import get_settings

TIMEOUT_SECONDS = 1.0


@lru_cache(maxsize=1)
def broker_redis() -> redis.Redis | None:
    url = get_settings().celery_broker_url
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return None
    return redis.Redis.from_url(url, socket_timeout=TIMEOUT_SECONDS,
                                socket_connect_timeout=TIMEOUT_SECONDS)


os.register_at_fork(after_in_child=broker_redis.cache_clear)
