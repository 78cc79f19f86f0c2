"""A margin alert becomes its deliveries: one per matching subscription (webhook) and one for
the account (email), by severity and preferences; quiet hours hold non-critical email."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from app.domain.alerts.quiet_hours import hold_until
from app.domain.alerts.routing import (
    MAX_ATTEMPTS,
    Channel,
    DeliveryStatus,
    channels_for,
    is_critical,
)
from app.persistence.alerts_models import AlertEvent, Delivery
from app.persistence.models import new_id
from app.services import chain_events
from app.services.alerts import preferences, subscriptions

CONSUMER = "alerts"
TASKS = {Channel.WEBHOOK.value: "alerts.deliver_webhook", Channel.EMAIL.value: "alerts.send_email"}
ACCOUNT_TARGET = "account"
# A delivery still pending this long after it was stored lost its send (the process stopped
# between commit and send); the release sweep sends it again.
LOST_SEND_AFTER = timedelta(seconds=60)


@dataclass
class FanOut:
    outcome: str
    sends: list[tuple[str, str]] = field(default_factory=list)  # (task name, delivery id)


def alert_id(event: Mapping[str, Any]) -> str:
    """The alert's own id (its producer's event_id); the message dedup key when absent."""
    return str(event["data"].get("event_id") or event["dedup_key"])


def accept(session: Session, event: Mapping[str, Any], now: datetime) -> FanOut:
    """Store the alert once and its deliveries once each; returns what to send after commit."""
    chain_events.record(session, CONSUMER, event, aggregate_id=event["data"].get("account_id"))
    data = dict(event["data"])
    severity = str(data.get("severity") or "critical").lower()
    stored = session.execute(
        insert(AlertEvent).values(event_id=alert_id(event), event_type=event["event_type"],
                                  account_id=data.get("account_id"), severity=severity,
                                  payload={**data, "event_type": event["event_type"]})
        .on_conflict_do_nothing().returning(AlertEvent.event_id)).scalar_one_or_none()
    if stored is None:
        return FanOut("duplicate")
    rows = _rows(session, stored, event["event_type"], data, severity=severity, now=now)
    if not rows:
        return FanOut("no_recipients")
    # The unique key (alert, channel, target) is the last guard against a concurrent twin.
    inserted = session.execute(insert(Delivery).values(rows).on_conflict_do_nothing()
                               .returning(Delivery.id, Delivery.channel, Delivery.status)).all()
    sends = [(TASKS[channel], delivery_id) for delivery_id, channel, status in inserted
             if status == DeliveryStatus.PENDING.value]
    return FanOut("accepted", sends)


def _rows(session: Session, alert: str, event_type: str, data: Mapping[str, Any], *,
          severity: str, now: datetime) -> list[dict[str, Any]]:
    account = data.get("account_id")
    prefs = preferences.find(session, str(account)) if account else None
    wanted = [c for c in channels_for(severity) if prefs is None or c.value in prefs.channels]
    # A multi-row INSERT needs the same columns in every row.
    base = {"alert_event_id": alert, "account_id": account, "event_type": event_type,
            "attempts": 0, "max_attempts": MAX_ATTEMPTS, "subscription_id": None,
            "next_attempt_at": None, "completed_at": None, "last_error": None}
    rows: list[dict[str, Any]] = []
    if Channel.WEBHOOK in wanted:
        rows += [{**base, "id": new_id(), "channel": Channel.WEBHOOK.value, "target": sub.id,
                  "subscription_id": sub.id, "status": DeliveryStatus.PENDING.value}
                 for sub in subscriptions.matching(session, event_type)]
    if Channel.EMAIL in wanted:
        # Quiet hours are a person's preference, so they hold the email; webhooks reach
        # systems and are never held.
        until = hold_until(preferences.quiet_hours(prefs), critical=is_critical(severity),
                           now=now)
        row = {**base, "id": new_id(), "channel": Channel.EMAIL.value, "target": ACCOUNT_TARGET,
               "status": DeliveryStatus.PENDING.value, "next_attempt_at": until}
        if prefs is None or prefs.email_sealed is None:
            row.update(status=DeliveryStatus.SKIPPED.value, completed_at=now,
                       last_error="no email address on file for the account")
        elif until is not None:
            row["status"] = DeliveryStatus.HELD.value
        rows.append(row)
    return rows


def release_due(session: Session, now: datetime, limit: int = 500) -> list[tuple[str, str]]:
    """Held deliveries whose quiet hours ended, lost sends and expired leases: sent again."""
    due = session.scalars(
        select(Delivery).where(or_(
            (Delivery.status == DeliveryStatus.HELD.value) & (Delivery.next_attempt_at <= now),
            (Delivery.status == DeliveryStatus.PENDING.value)
            & (Delivery.created_at <= now - LOST_SEND_AFTER),
            (Delivery.status == DeliveryStatus.DELIVERING.value)
            & (Delivery.next_attempt_at <= now)))
        .order_by(Delivery.next_attempt_at).limit(limit).with_for_update(skip_locked=True)).all()
    for delivery in due:
        if delivery.status == DeliveryStatus.HELD.value:
            delivery.status = DeliveryStatus.PENDING.value
            delivery.next_attempt_at = None
    return [(TASKS[d.channel], d.id) for d in due]
