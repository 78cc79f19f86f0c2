"""Tasks the Pub/Sub bridge sends: one per routed event; the task id is the event's dedup key."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app.config import get_settings
from app.persistence.db import unit_of_work
from app.services import chain_events
from tasks.celery_app import fusion_task


@fusion_task("settlement.apply_chain_event")
def apply_chain_event(event: dict[str, Any], message_id: str | None = None) -> dict[str, Any]:
    settings = get_settings()
    with unit_of_work() as session:
        outcome = chain_events.apply_chain_event(session, event, datetime.now(UTC), settings)
    return {"dedup_key": event["dedup_key"], "outcome": outcome}


@fusion_task("settlement.apply_settlement_event")
def apply_settlement_event(event: dict[str, Any],
                           message_id: str | None = None) -> dict[str, Any]:
    with unit_of_work() as session:
        outcome = chain_events.apply_status_event(session, event, datetime.now(UTC))
    return {"dedup_key": event["dedup_key"], "outcome": outcome}


@fusion_task("risk.record_event")
def record_risk_event(event: dict[str, Any], message_id: str | None = None) -> dict[str, Any]:
    with unit_of_work() as session:
        return {"dedup_key": event["dedup_key"],
                "outcome": chain_events.record_only(session, "risk", event)}


@fusion_task("alerts.record_event")
def record_alert_event(event: dict[str, Any], message_id: str | None = None) -> dict[str, Any]:
    with unit_of_work() as session:
        return {"dedup_key": event["dedup_key"],
                "outcome": chain_events.record_only(session, "alerts", event)}
