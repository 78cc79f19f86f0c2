"""The inbound inbox: nothing the bridge acked is lost with a broker that forgot its task.

The bridge writes every routed message here (one statement per pulled group) before it sends
the task and acks the message; the consumer marks the row processed in the transaction of its
effect; the sweeper re-sends rows left unprocessed, as it re-sends stuck commands. A re-sent
task is harmless when its first copy did run after all: consumers dedupe on the dedup key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from app.messaging.routing import Routed, route_again
from app.persistence import inbox_store

# A row that keeps coming back (its task fails, or is quarantined as poison) is re-sent ever
# less often, never given up: the dead letter or the fix makes it processed eventually.
MAX_BACKOFF = timedelta(hours=1)
SWEEP_LIMIT = 1000


def record_received(session: Session, group: Sequence[Routed], now: datetime,
                    resend_after: timedelta) -> None:
    """Keep a pulled group's messages, one row each, before any of them is acked."""
    rows = {(r.subscription, r.dedup_key): {
        "subscription": r.subscription, "dedup_key": r.dedup_key, "task_name": r.task_name,
        "message_id": r.event.get("message_id"), "event": r.event} for r in group}
    # Two copies of one message in a group would make the statement hit its own row twice.
    inbox_store.insert_received(session, list(rows.values()), now + resend_after)


def mark_processed(session: Session, event: Mapping[str, Any], now: datetime) -> None:
    """Call inside the unit of work of the event's effect. An event sent without the bridge
    (a dead-letter replay, a task sent by hand) has no row, and nothing changes."""
    subscription = event.get("subscription")
    if subscription:
        inbox_store.mark_processed(session, str(subscription), str(event["dedup_key"]), now)


def due_for_resend(session: Session, now: datetime, resend_after: timedelta,
                   limit: int = SWEEP_LIMIT) -> list[Routed]:
    """The tasks of rows still unprocessed `resend_after` after their last send; each row's
    next resend moves out (doubling up to MAX_BACKOFF). The caller sends after commit."""
    resent: list[Routed] = []
    for entry in inbox_store.claim_due(session, now, limit):
        pause = min(resend_after * 2 ** min(entry.resends + 1, 12), MAX_BACKOFF)
        inbox_store.postpone(entry, now + max(pause, resend_after))
        resent.append(route_again(entry.task_name, entry.event))
    return resent


def prune_processed(session: Session, now: datetime, retention: timedelta,
                    chunk: int = SWEEP_LIMIT) -> int:
    """Delete one chunk of rows processed longer than `retention` ago (the caller repeats,
    one unit of work per chunk, until fewer than `chunk` go). Unprocessed rows are never
    pruned: they are what the sweeper still owes. A redelivery after the prune is harmless,
    as consumers dedupe on the dedup key."""
    return inbox_store.delete_processed_before(session, now - retention, chunk)
