"""Storing margin results set-wise: snapshots, their outbox rows (risk.snapshots.v1) and each
account's latest status in one statement; margin events and their alerts (alerts.margin.v1)
for the accounts whose status changed. One account or a chunk of thousands alike.

The `margin.snapshot` data: account_id, status, health_score, total_collateral_usd,
total_borrow_usd, liquidation_price_drop_percent, initial_margin_usd, maintenance_margin_usd
(decimal strings, or null when UNKNOWN), unpriced_assets, cause, batch_id, calculated_at."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from app.domain.risk.margin import (
    MarginChange,
    MarginHealth,
    MarginStatus,
    describe_change,
    margin_change,
)
from app.domain.risk.margin import rounded as _rounded
from app.messaging.topology import ALERTS_MARGIN, RISK_SNAPSHOTS
from app.persistence import risk_store
from app.persistence.models import new_id
from app.persistence.risk_models import RiskMarginEvent

SNAPSHOT_EVENT = "margin.snapshot"


@dataclass(frozen=True, slots=True)
class AccountResult:
    account_id: str
    health: MarginHealth
    previous_known: MarginStatus | None
    previous_score: Decimal | None


def text_of(value: Decimal | None, places: int = 2) -> str | None:
    return None if value is None else str(_rounded(value, places))


def _str(value: Decimal | None) -> str | None:
    # Exact decimal strings: PostgreSQL parses them into NUMERIC without rounding.
    return None if value is None else str(value)


def _stored(value: Decimal | None) -> Decimal | None:
    # Scores and drops are stored at 18 decimals, the scale of every stored amount; the
    # 50-digit division result would only fatten the rows (output rounds to 2 anyway).
    return None if value is None else _rounded(value, 18)


def _ratio(value: Decimal | None) -> str | None:
    return _str(_stored(value))


def store_results(session: Session, results: Sequence[AccountResult], *, now: datetime,
                  cause: str, batch_id: str | None = None) -> int:
    """Write every result and the events of status changes; returns how many events.

    The caller holds the accounts' risk rows locked (FOR UPDATE) since it read their previous
    status, so no other recalculation can emit the same change.
    """
    if not results:
        return 0
    stamp = now.isoformat()
    rows: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    alerts: list[dict[str, Any]] = []
    for result in results:
        health = result.health
        # Exact values for the snapshot columns, and their rounded output text for the
        # published payload (rounded here, in one place: banker's rounding).
        rows.append({
            "account_id": result.account_id, "status": health.status.value,
            "score": _ratio(health.health_score), "c": _str(health.total_collateral_usd),
            "b": _str(health.total_borrow_usd),
            "drop": _ratio(health.liquidation_price_drop_percent),
            "im": _str(health.initial_margin_usd), "mm": _str(health.maintenance_margin_usd),
            "unpriced": list(health.unpriced_assets),
            "score_text": text_of(health.health_score),
            "c_text": text_of(health.total_collateral_usd),
            "b_text": text_of(health.total_borrow_usd),
            "drop_text": text_of(health.liquidation_price_drop_percent),
            "im_text": text_of(health.initial_margin_usd),
            "mm_text": text_of(health.maintenance_margin_usd)})
        change = margin_change(result.previous_known, health.status)
        if change is not None:
            event = _event_row(result, change, now, batch_id)
            events.append(event)
            alerts.append({"topic": ALERTS_MARGIN, "event_type": event["event_type"],
                           "aggregate_id": result.account_id,
                           "payload": {**_alert_payload(event, result), "occurred_at": stamp}})
    risk_store.store_results(session, rows, cause=cause, batch_id=batch_id, now=now,
                             topic=RISK_SNAPSHOTS, event_type=SNAPSHOT_EVENT)
    if events:
        session.execute(insert(RiskMarginEvent), events)
        risk_store.record_outbox_rows(session, alerts)
    return len(events)


def _event_row(result: AccountResult, change: MarginChange, now: datetime,
               batch_id: str | None) -> dict[str, Any]:
    health = result.health
    return {
        "event_id": new_id(), "account_id": result.account_id,
        "event_type": change.event_type.value, "severity": change.severity,
        "status": change.current.value, "previous_status": change.previous.value,
        "health_score": _stored(health.health_score),
        "previous_health_score": result.previous_score,
        "total_collateral_usd": health.total_collateral_usd,
        "total_borrow_usd": health.total_borrow_usd,
        "liquidation_price_drop_percent": _stored(health.liquidation_price_drop_percent),
        "message": describe_change(result.account_id, change, health.health_score),
        "batch_id": batch_id, "occurred_at": now}


def _alert_payload(event: dict[str, Any], result: AccountResult) -> dict[str, Any]:
    """The alerts.margin.v1 data fields (DOMAIN.md §1)."""
    health = result.health
    return {
        "event_id": event["event_id"], "event_type": event["event_type"],
        "account_id": result.account_id,
        "health_score": text_of(health.health_score),
        "previous_health_score": text_of(result.previous_score),
        "status": event["status"], "previous_status": event["previous_status"],
        "severity": event["severity"],
        "total_collateral_usd": text_of(health.total_collateral_usd),
        "total_borrow_usd": text_of(health.total_borrow_usd),
        "liquidation_price_drop_percent": text_of(health.liquidation_price_drop_percent),
        "message": event["message"]}

