"""Fleet hooks: a publish timestamp on every message, delivery counting and quarantine of tasks
that keep killing their worker, and per-queue completion counters for `fusion-prime fleet`.

Cost per task: one Redis round trip when it starts (count the delivery), which also carries
what tasks.task_metrics buffered (state counts, and clearing the previous tasks' delivery counts
and bumping their completion counters, queued when they ended). Redis trouble never fails a
task: the hooks log it and the task runs uncounted.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import redis
from celery import Task, signals
from celery.exceptions import Reject
from redis.client import Pipeline

from app.config import get_settings
from app.logs import get_logger
from app.persistence.db import unit_of_work
from app.services import dead_letters, fleet
from tasks import task_metrics
from tasks.broker_client import broker_redis

log = get_logger(__name__)

# After a failed attempt to file a poison task, wait before handing its message back, so a
# database outage does not turn the requeue into a hot loop.
QUARANTINE_RETRY_PAUSE_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class Delivery:
    key: str
    count: int  # deliveries of this (task id, retries) so far, this one included; 0 = unknown
    queue: str | None
    started: float
    quarantined: bool = False  # this task id was quarantined before and not replayed since


@signals.before_task_publish.connect  # type: ignore[untyped-decorator]
def _stamp_publish_time(headers: dict[str, Any] | None = None, **_: Any) -> None:
    # `fleet status` reads the oldest waiting message's age from this header.
    if headers is not None:
        headers[fleet.SENT_AT_HEADER] = time.time()


@contextmanager
def counted(task: Task, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Iterator[None]:
    """Around a task body: count the delivery, quarantine a poison task instead of running it,
    and on completion clear the count and bump the queue's counters."""
    delivery = begin(task)
    if delivery is not None and delivery.quarantined:
        # Sent again (the command sweeper does) while its dead letter waits for an operator.
        log.warning("task.still_quarantined", queue=delivery.queue)
        raise Reject("poison_task: quarantined; replay its dead letter to run it", requeue=False)
    if delivery is not None and delivery.count > get_settings().task_max_deliveries:
        quarantine(task, delivery, args, kwargs)  # raises Reject either way
    try:
        yield
    finally:
        end(delivery)


def begin(task: Task) -> Delivery | None:
    """Count this delivery before the task body runs; None when the task is called in-process."""
    request = task.request
    if request.called_directly or not request.id:
        return None
    queue = (request.delivery_info or {}).get("routing_key") or None
    key = fleet.delivery_key(request.id, request.retries or 0)
    count, quarantined = 0, False
    client = broker_redis()
    if client is not None:
        try:
            pipe = client.pipeline(transaction=False)
            # First, so that clearing an earlier delivery's count of this task id (a re-send
            # that ran here before) cannot clear this one's.
            task_metrics.drain_into(pipe)
            pipe.incr(key)
            pipe.expire(key, fleet.DELIVERY_TTL_SECONDS)
            pipe.exists(fleet.quarantine_key(request.id))
            *_, counted_so_far, _, marked = pipe.execute()
            count, quarantined = int(counted_so_far), bool(marked)
        except redis.RedisError as exc:
            log.warning("fleet.delivery_count_failed", error=type(exc).__name__)
    return Delivery(key, count, queue, time.perf_counter(), quarantined)


def end(delivery: Delivery | None) -> None:
    """The task finished (returned, raised or was quarantined) without killing its process."""
    client = broker_redis()
    if delivery is None or client is None:
        return
    busy, finished = time.perf_counter() - delivery.started, time.time()

    def write(pipe: Pipeline) -> None:
        pipe.delete(delivery.key)
        if delivery.queue:
            fleet.record_completion(pipe, delivery.queue, busy, finished)

    # Sent with the next task's start or the metrics flush (no round trip of its own); if the
    # process dies before that, the delivery count stays, which only counts this delivery as
    # unfinished.
    task_metrics.deferred(write)


def quarantine(task: Task, delivery: Delivery, args: tuple[Any, ...],
               kwargs: dict[str, Any]) -> None:
    """Dead-letter a task that was delivered too often without finishing, and drop its message
    (Reject without requeue acks it on Redis; Celery records the task as failed)."""
    queue, deliveries = delivery.queue or "unknown", delivery.count - 1
    try:
        with unit_of_work() as session:
            letter = dead_letters.quarantine_task(
                session, queue=queue, task_id=task.request.id, task_name=task.name,
                args=list(args), kwargs=dict(kwargs), deliveries=deliveries)
            letter_id = letter.id
    except Exception as exc:
        # Not filed, so not dropped: hand the message back (its count kept) and try again on
        # its next delivery.
        log.error("task.quarantine_failed", error=type(exc).__name__)
        time.sleep(QUARANTINE_RETRY_PAUSE_SECONDS)
        raise Reject(f"could not dead-letter: {type(exc).__name__}", requeue=True) from exc
    end(delivery)  # the count is cleared, so a replay gets its full number of deliveries
    _mark_quarantined(task.request.id)
    log.error("task.quarantined", dead_letter_id=letter_id, queue=queue, deliveries=deliveries)
    raise Reject(f"poison_task: delivered {deliveries} times without finishing; "
                 f"dead letter {letter_id}", requeue=False)


def _mark_quarantined(task_id: str) -> None:
    client = broker_redis()
    if client is None:
        return
    try:
        client.set(fleet.quarantine_key(task_id), 1, ex=fleet.QUARANTINE_TTL_SECONDS)
    except redis.RedisError as exc:  # the dead letter is filed; a re-send may crash again
        log.warning("fleet.quarantine_mark_failed", error=type(exc).__name__)
