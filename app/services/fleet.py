"""Fleet status from the broker's Redis: depth, oldest message age, throughput, consumers.

Nothing here imports Celery. The worker hooks (tasks/fleet_signals.py) write the counters and
the publish timestamp through the key helpers below; the consumers (who listens on which queue
with how many processes) come in as plain data from the CLI, which asks the workers.

Broker layout (kombu's Redis transport): a queue is a Redis list, producers LPUSH and workers
BRPOP, so the oldest waiting message is the list's tail (LINDEX -1). With
`queue_order_strategy=priority` a message of priority p > 0 lives in the list
"<queue>\\x06\\x16<step>" (steps 3, 6, 9), so the depth is the sum over the four lists.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from redis import Redis
from redis.client import Pipeline

from app.config import WORKER_QUEUES, Settings
from app.domain.fleet import Throughput, recommended_workers

# kombu's Redis transport keeps a queue's messages of priority p > 0 in a list named
# "<queue>\x06\x16<p>" (celeryconfig sets queue_order_strategy "priority"). Every level is
# read, so a non-default `priority_steps` is still counted.
PRIORITY_SEPARATOR = "\x06\x16"
PRIORITY_LEVELS = range(1, 10)
SENT_AT_HEADER = "fusion_sent_at"
BUCKET_SECONDS = 60
# Counters outlive any window `fleet status` reads, then expire on their own.
COUNTER_TTL_SECONDS = 2 * 3600
DEFAULT_WINDOW_SECONDS = 300
# A delivery counter must outlive the redeliveries it counts (each can wait out a visibility
# timeout), yet not keep a finished task's key forever.
DELIVERY_TTL_SECONDS = 24 * 3600
# A quarantined task id stays refused this long: a settlement command's task is re-sent by
# the command sweeper while the command waits in `received`, and must not run (and crash
# workers) again, nor file another dead letter, until an operator replays it.
QUARANTINE_TTL_SECONDS = 30 * 24 * 3600


@dataclass(frozen=True, slots=True)
class Consumer:
    """One worker node as its control replies describe it."""

    node: str
    queues: tuple[str, ...]
    processes: int  # pool processes now (autoscale moves this between its bounds)
    max_concurrency: int


@dataclass(frozen=True, slots=True)
class QueueStatus:
    queue: str
    depth: int
    consumers: int  # worker nodes consuming the queue
    processes: int  # their pool processes (shared with any other queue they consume)
    oldest_age_seconds: float | None  # None: empty, or only messages without a publish stamp
    completed: int  # tasks finished in the window
    window_seconds: float
    throughput_per_second: float
    per_worker_per_second: float | None
    autoscale_min: int
    autoscale_max: int | None  # None for a queue without a configured worker group
    target_drain_seconds: float
    recommended_workers: int


def priority_lists(queue: str) -> list[str]:
    """Every Redis list that may hold messages of `queue`, the bare name first."""
    return [queue, *(f"{queue}{PRIORITY_SEPARATOR}{level}" for level in PRIORITY_LEVELS)]


def delivery_key(task_id: str, retries: int) -> str:
    return f"fusion:fleet:deliveries:{task_id}:{retries}"


def quarantine_key(task_id: str) -> str:
    return f"fusion:fleet:quarantined:{task_id}"


def _done_key(queue: str, bucket: int) -> str:
    return f"fusion:fleet:done:{queue}:{bucket}"


def _busy_key(queue: str, bucket: int) -> str:
    return f"fusion:fleet:busy_us:{queue}:{bucket}"


def record_completion(pipe: Pipeline, queue: str, busy_seconds: float, now: float) -> None:
    """Queue the counter updates for one finished task on `pipe` (the caller executes it)."""
    bucket = int(now // BUCKET_SECONDS)
    done, busy = _done_key(queue, bucket), _busy_key(queue, bucket)
    pipe.incr(done)
    pipe.incrby(busy, max(0, round(busy_seconds * 1_000_000)))
    pipe.expire(done, COUNTER_TTL_SECONDS)
    pipe.expire(busy, COUNTER_TTL_SECONDS)


def sent_at(raw: bytes | str | None) -> float | None:
    """The publish time stamped into a broker message's headers, if it carries one."""
    if raw is None:
        return None
    try:
        value = json.loads(raw).get("headers", {}).get(SENT_AT_HEADER)
    except (ValueError, AttributeError):
        return None
    return float(value) if isinstance(value, int | float) else None


def _buckets(now: float, window_seconds: float) -> tuple[list[int], float]:
    """The minute buckets covering the window and the seconds they actually span (the current
    bucket is only partly over)."""
    current = int(now // BUCKET_SECONDS)
    count = max(1, math.ceil(window_seconds / BUCKET_SECONDS))
    buckets = list(range(current - count + 1, current + 1))
    return buckets, now - buckets[0] * BUCKET_SECONDS


def fleet_status(client: Redis, settings: Settings, consumers: Sequence[Consumer], *,
                 queues: Iterable[str] = WORKER_QUEUES,
                 window_seconds: float = DEFAULT_WINDOW_SECONDS,
                 now: float | None = None) -> list[QueueStatus]:
    """One status line per queue, read in a single Redis round trip."""
    names = list(dict.fromkeys(queues))
    now = time.time() if now is None else now
    buckets, span = _buckets(now, window_seconds)
    pipe = client.pipeline(transaction=False)
    for queue in names:
        for name in priority_lists(queue):
            pipe.llen(name)
            pipe.lindex(name, -1)
        pipe.mget([_done_key(queue, b) for b in buckets])
        pipe.mget([_busy_key(queue, b) for b in buckets])
    replies = iter(pipe.execute())
    statuses = []
    for queue in names:
        depth, stamps = 0, []
        for _ in priority_lists(queue):
            depth += int(next(replies))
            if (stamp := sent_at(next(replies))) is not None:
                stamps.append(stamp)
        done = sum(int(v) for v in next(replies) if v is not None)
        busy_us = sum(int(v) for v in next(replies) if v is not None)
        statuses.append(_queue_status(queue, settings, consumers, depth=depth,
                                      oldest=now - min(stamps) if stamps else None,
                                      throughput=Throughput(done, busy_us / 1e6, span)))
    return statuses


def _queue_status(queue: str, settings: Settings, consumers: Sequence[Consumer], *,
                  depth: int, oldest: float | None, throughput: Throughput) -> QueueStatus:
    listening = [c for c in consumers if queue in c.queues]
    if queue in WORKER_QUEUES:
        group = settings.worker_group(queue)
        low, high = group.autoscale_min, group.autoscale_max
    else:
        low, high = 0, None
    target = settings.fleet_target_drain_seconds
    per_worker = throughput.per_worker_per_second
    return QueueStatus(
        queue=queue, depth=depth, consumers=len(listening),
        processes=sum(c.processes for c in listening),
        oldest_age_seconds=max(0.0, oldest) if oldest is not None else None,
        completed=throughput.completed, window_seconds=throughput.window_seconds,
        throughput_per_second=throughput.per_second, per_worker_per_second=per_worker,
        autoscale_min=low, autoscale_max=high, target_drain_seconds=target,
        recommended_workers=recommended_workers(depth, per_worker, target, low))


def consumers_from_inspect(active_queues: Mapping[str, Any] | None,
                           stats: Mapping[str, Any] | None) -> list[Consumer]:
    """Plain consumers from the workers' `active_queues` and `stats` control replies."""
    found = []
    for node, queues in (active_queues or {}).items():
        pool = ((stats or {}).get(node) or {}).get("pool") or {}
        processes = pool.get("processes")
        count = len(processes) if isinstance(processes, list) else 0
        limit = pool.get("max-concurrency")
        found.append(Consumer(node=node, queues=tuple(q.get("name", "") for q in queues or ()),
                              processes=count,
                              max_concurrency=limit if isinstance(limit, int) else count))
    return sorted(found, key=lambda c: c.node)


def as_dict(status: QueueStatus) -> dict[str, Any]:
    return asdict(status)
