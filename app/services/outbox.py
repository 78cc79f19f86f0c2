"""Write facts that leave the system into the outbox, inside the caller's transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from app.persistence.models import OutboxEvent, new_id

SETTLEMENT_RESULTS = "settlement.results.v1"


def record_event(
    session: Session, *, topic: str, event_type: str, aggregate_id: str, data: dict[str, Any]
) -> OutboxEvent:
    event = OutboxEvent(
        id=new_id(),
        topic=topic,
        event_type=event_type,
        aggregate_id=aggregate_id,
        payload=stamped(data),
    )
    session.add(event)
    return event


def stamped(data: dict[str, Any]) -> dict[str, Any]:
    """An event body as it is stored: the data and when it happened."""
    return {**data, "occurred_at": occurred_now()}


def occurred_now() -> str:
    """An event's `occurred_at`, for a body built elsewhere than stamped()."""
    return datetime.now(UTC).isoformat()
