"""Tasks the Pub/Sub bridge sends: one per routed event; the task id is the event's dedup key.

Every such task runs its effect in `inbound_unit_of_work(event)`, which marks the event's inbox
row processed in the same transaction: the row stays unprocessed (and the sweeper re-sends the
task) exactly as long as the effect is not durable.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from app.config import get_settings
from app.persistence.db import unit_of_work
from app.services import chain_events, inbox
from tasks.celery_app import fusion_task


@contextmanager
def inbound_unit_of_work(event: Mapping[str, Any]) -> Iterator[Session]:
    """A unit of work whose commit also marks the event processed in the inbox."""
    with unit_of_work() as session:
        yield session
        inbox.mark_processed(session, event, datetime.now(UTC))


def mark_refused(event: Mapping[str, Any]) -> None:
    """For a consumer that refused the event for good (its unit of work rolled back): sending
    it again would be refused again, so the refusal is what processed it."""
    with inbound_unit_of_work(event):
        pass


@fusion_task("settlement.apply_chain_event")
def apply_chain_event(event: dict[str, Any], message_id: str | None = None) -> dict[str, Any]:
    settings = get_settings()
    with inbound_unit_of_work(event) as session:
        outcome = chain_events.apply_chain_event(session, event, datetime.now(UTC), settings)
    return {"dedup_key": event["dedup_key"], "outcome": outcome}


@fusion_task("settlement.apply_settlement_event")
def apply_settlement_event(event: dict[str, Any],
                           message_id: str | None = None) -> dict[str, Any]:
    with inbound_unit_of_work(event) as session:
        outcome = chain_events.apply_status_event(session, event, datetime.now(UTC))
    return {"dedup_key": event["dedup_key"], "outcome": outcome}


@fusion_task("risk.record_event")
def record_risk_event(event: dict[str, Any], message_id: str | None = None) -> dict[str, Any]:
    with inbound_unit_of_work(event) as session:
        return {"dedup_key": event["dedup_key"],
                "outcome": chain_events.record_only(session, "risk", event)}


@fusion_task("alerts.record_event")
def record_alert_event(event: dict[str, Any], message_id: str | None = None) -> dict[str, Any]:
    with inbound_unit_of_work(event) as session:
        return {"dedup_key": event["dedup_key"],
                "outcome": chain_events.record_only(session, "alerts", event)}
