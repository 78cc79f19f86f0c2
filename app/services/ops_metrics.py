"""Fleet-wide operational figures for the API's /metrics: read on demand, returned as plain data.

Everything here is a count or an age over the whole system (the database and the broker), so any
one API process can answer for the fleet. Labels are bounded codes (task names, queue names,
reasons, event types, batch kinds) — never account ids or other personal data.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.orm import Session

from app.persistence import ops_store
from app.services.batches import BatchView, list_batches
from app.services.fleet import priority_lists

# Workers count task states here (tasks/task_metrics.py): field "<task name>|<state>".
TASK_COUNTS_KEY = "fusion:metrics:tasks"
TASK_FIELD_SEPARATOR = "|"

# Messages delivered to a worker and not acked yet (kombu's visibility-timeout bookkeeping).
UNACKED_KEY = "unacked"

# A slow database yields no figures rather than a hung scrape.
STATEMENT_TIMEOUT_MS = 2000
# Batch counts by kind and status cover the newest this many (of each kind); running batches
# are few, each one gets its own progress series.
RECENT_BATCHES = 200


class RedisLike(Protocol):
    """The part of redis.Redis this module uses (a pipeline is one round trip)."""

    def pipeline(self, transaction: bool = ...) -> Any: ...

    def hgetall(self, name: str) -> Any: ...


@dataclass
class DatabaseFigures:
    outbox_unsent: int = 0
    outbox_oldest_unsent_age_seconds: float = 0.0
    # (reason, "pending" | "replayed") -> count
    dead_letters: dict[tuple[str, str], int] = field(default_factory=dict)
    margin_events: dict[str, int] = field(default_factory=dict)
    running_batches: list[BatchView] = field(default_factory=list)
    # (kind, status) -> count over the newest RECENT_BATCHES
    batches: dict[tuple[str, str], int] = field(default_factory=dict)


@dataclass
class BrokerFigures:
    queue_depth: dict[str, int] = field(default_factory=dict)
    unacked: int = 0
    # (task name, state) -> count since the broker's data began
    tasks: dict[tuple[str, str], int] = field(default_factory=dict)


def database_figures(session: Session) -> DatabaseFigures:
    """Outbox lag, dead letters, margin events and batch progress, under a statement timeout."""
    ops_store.limit_statement_time(session, STATEMENT_TIMEOUT_MS)
    figures = DatabaseFigures()
    unsent, age = ops_store.outbox_lag(session)
    figures.outbox_unsent = unsent
    figures.outbox_oldest_unsent_age_seconds = max(age, 0.0) if age is not None else 0.0
    for reason, pending, count in ops_store.dead_letter_counts(session):
        figures.dead_letters[(reason, "pending" if pending else "replayed")] = count
    figures.margin_events = ops_store.margin_event_counts(session)
    _batch_figures(session, figures)
    return figures


def _batch_figures(session: Session, figures: DatabaseFigures) -> None:
    for view in list_batches(session, limit=RECENT_BATCHES):
        key = (view.kind, view.status)
        figures.batches[key] = figures.batches.get(key, 0) + 1
    figures.running_batches = list_batches(session, status="running", limit=RECENT_BATCHES)


def broker_figures(client: RedisLike, queues: Iterable[str]) -> BrokerFigures:
    """Queue depths (all priority sub-lists summed), unacked messages and task counts, in one
    round trip."""
    names = list(queues)
    pipe = client.pipeline(transaction=False)
    for queue in names:
        for key in priority_lists(queue):
            pipe.llen(key)
    pipe.hlen(UNACKED_KEY)
    pipe.hgetall(TASK_COUNTS_KEY)
    replies = pipe.execute()
    figures = BrokerFigures()
    depths = iter(replies)
    for queue in names:
        figures.queue_depth[queue] = sum(int(next(depths)) for _ in priority_lists(queue))
    figures.unacked = int(replies[-2])
    figures.tasks = parse_task_counts(replies[-1])
    return figures


def task_field(task_name: str, state: str) -> str:
    return f"{task_name}{TASK_FIELD_SEPARATOR}{state}"


def parse_task_counts(raw: dict[Any, Any]) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for key, value in raw.items():
        name = key.decode() if isinstance(key, bytes) else str(key)
        task, sep, state = name.rpartition(TASK_FIELD_SEPARATOR)
        if sep:
            counts[(task, state)] = int(value)
    return counts
