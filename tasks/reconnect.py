"""Re-send, within seconds, the commands a broker outage may have lost.

Redis keeps its append-only file fsynced once a second, so a crash loses up to the last second
of sends; while it is down, the API's sends after commit fail (the commands are stored). Beat's
sweeper would send them again after COMMAND_SWEEP_AFTER_SECONDS; this consumer step sends a
sweep of exactly those (still `received`, sent since shortly before the connection dropped) as
soon as the worker is connected again. The sweeper stays the backstop.

Celery restarts its consumer's steps after a lost connection: `stop` runs when it drops,
`start` once it is back. A Redis key makes one worker of the fleet send the sweep per outage.
"""

from __future__ import annotations

import time
from typing import Any

import redis
from celery import bootsteps

from app.logs import get_logger
from tasks.broker_client import broker_redis

log = get_logger(__name__)

# Redis's fsync interval (1 s) plus the sends in flight when the connection dropped.
LOST_BEFORE_DROP_SECONDS = 5.0
CLAIM_KEY = "fusion:reconnect-sweep"
CLAIM_SECONDS = 10


class SweepOnReconnect(bootsteps.StartStopStep):  # type: ignore[misc]
    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.dropped_at: float | None = None

    def stop(self, parent: Any) -> None:
        # Also called at shutdown, where the next start never comes.
        self.dropped_at = time.time()

    def shutdown(self, parent: Any) -> None:
        self.dropped_at = None

    def start(self, parent: Any) -> None:
        if self.dropped_at is None:
            return  # the first connection: nothing was lost
        since, self.dropped_at = self.dropped_at - LOST_BEFORE_DROP_SECONDS, None
        if not _claim():
            return
        try:
            parent.app.send_task("maintenance.sweep_commands", kwargs={"enqueued_after": since})
        except Exception as exc:  # the broker dropped again: beat's sweeper is the backstop
            log.warning("broker.reconnected_sweep_failed", error=type(exc).__name__)
            return
        log.info("broker.reconnected_sweep_sent", enqueued_after=since)


def _claim() -> bool:
    """True for the first worker to reconnect; the others leave the sweep to it."""
    client = broker_redis()
    if client is None:
        return True
    try:
        return bool(client.set(CLAIM_KEY, 1, nx=True, ex=CLAIM_SECONDS))
    except redis.RedisError:
        return True  # a duplicate sweep costs a query; a missing one costs a sweep interval
