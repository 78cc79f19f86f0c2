"""One attempt of one delivery: claim it (a lease), send outside any transaction, record the
attempt and decide success, retry (with the spec's backoff) or exhaustion."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.domain.alerts import notice
from app.domain.alerts.routing import (
    ATTEMPT_HEADER,
    DELIVERY_ID_HEADER,
    EVENT_TYPE_HEADER,
    MAX_ATTEMPTS,
    SIGNATURE_HEADER,
    Channel,
    DeliveryStatus,
    is_success,
    retry_after,
    sign,
)
from app.domain.errors import Conflict, NotFound
from app.persistence.alerts_models import (
    AlertEvent,
    Delivery,
    DeliveryAttempt,
    WebhookSubscription,
)
from app.persistence.db import unit_of_work
from app.services.alerts import preferences, subscriptions
from app.services.alerts.fanout import TASKS
from app.services.alerts.senders import Sent, post_webhook, send_email

DONE = (DeliveryStatus.SUCCEEDED.value, DeliveryStatus.EXHAUSTED.value,
        DeliveryStatus.SKIPPED.value)


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str  # a DeliveryStatus, or "not_due" / "in_flight" when nothing was attempted
    attempt: int = 0
    retry_in: float | None = None


def body_of(alert: AlertEvent) -> bytes:
    """The event JSON, serialised the same way on every attempt so signatures are stable."""
    return json.dumps(alert.payload, sort_keys=True, separators=(",", ":")).encode()


def attempt(settings: Settings, delivery_id: str, now: Callable[[], datetime]) -> Outcome:
    """Run one attempt. Owns its two short transactions: none is open while the network is."""
    with unit_of_work() as session:
        claimed = _claim(session, settings, delivery_id, now())
    if isinstance(claimed, Outcome):
        return claimed
    attempt_no, send = claimed
    started = now()
    sent = send()
    with unit_of_work() as session:
        return _record(session, settings, delivery_id, attempt_no=attempt_no, started=started,
                       sent=sent, now=now())


def _claim(session: Session, settings: Settings, delivery_id: str,
           now: datetime) -> Outcome | tuple[int, Callable[[], Sent]]:
    delivery = session.get(Delivery, delivery_id, with_for_update=True)
    if delivery is None:
        raise NotFound(f"delivery {delivery_id} not found", code="delivery_not_found")
    if delivery.status in DONE:
        return Outcome(delivery.status, delivery.attempts)
    lease_held = delivery.next_attempt_at is not None and delivery.next_attempt_at > now
    if delivery.status == DeliveryStatus.HELD.value and lease_held:
        return Outcome("not_due", delivery.attempts)
    if delivery.status == DeliveryStatus.DELIVERING.value and lease_held:
        return Outcome("in_flight", delivery.attempts)
    alert = session.get_one(AlertEvent, delivery.alert_event_id)
    send = _sender(session, settings, delivery, alert)
    if send is None:
        _close(delivery, DeliveryStatus.SKIPPED, now)
        return Outcome(delivery.status, delivery.attempts)
    delivery.attempts += 1
    delivery.status = DeliveryStatus.DELIVERING.value
    # The lease outlives the send's timeout, so only a lost worker lets another take over.
    delivery.next_attempt_at = now + timedelta(seconds=settings.webhook_timeout_seconds + 30)
    return delivery.attempts, send


def _sender(session: Session, settings: Settings, delivery: Delivery,
            alert: AlertEvent) -> Callable[[], Sent] | None:
    if delivery.channel == Channel.EMAIL.value:
        address = preferences.email_of(settings, preferences.find(session,
                                                                  delivery.account_id or ""))
        if address is None:
            delivery.last_error = "no email address on file for the account"
            return None
        subject, text = notice.render(alert.payload)
        return lambda: send_email(settings, address, subject, text)
    subscription = session.get_one(WebhookSubscription, delivery.subscription_id)
    if subscription.deleted_at is not None:
        delivery.last_error = "the subscription was deleted"
        return None
    body = body_of(alert)
    headers = {SIGNATURE_HEADER: sign(subscriptions.secret_of(settings, subscription), body),
               EVENT_TYPE_HEADER: delivery.event_type, DELIVERY_ID_HEADER: delivery.id,
               ATTEMPT_HEADER: str(delivery.attempts + 1)}
    url = subscription.url
    return lambda: post_webhook(settings, url, body, headers)


def _record(session: Session, settings: Settings, delivery_id: str, *, attempt_no: int,
            started: datetime, sent: Sent, now: datetime) -> Outcome:
    delivery = session.get_one(Delivery, delivery_id, with_for_update=True)
    retry_in: float | None = None
    if is_success(sent.status_code):
        _close(delivery, DeliveryStatus.SUCCEEDED, now)
    else:
        # Attempts count from the last redelivery request, each with the full schedule.
        in_round = attempt_no - (delivery.max_attempts - MAX_ATTEMPTS)
        retry_in = retry_after(in_round, base_seconds=settings.webhook_backoff_base_seconds)
        if retry_in is None:
            _close(delivery, DeliveryStatus.EXHAUSTED, now)
        else:
            delivery.status = DeliveryStatus.RETRYING.value
            delivery.next_attempt_at = now + timedelta(seconds=retry_in)
    delivery.last_status_code, delivery.last_error = sent.status_code, sent.error
    session.add(DeliveryAttempt(delivery_id=delivery_id, attempt=attempt_no, started_at=started,
                                status_code=sent.status_code, error=sent.error,
                                latency_ms=sent.latency_ms, retry_in_seconds=retry_in))
    return Outcome(delivery.status, attempt_no, retry_in)


def _close(delivery: Delivery, status: DeliveryStatus, now: datetime) -> None:
    delivery.status, delivery.completed_at, delivery.next_attempt_at = status.value, now, None


def redeliver(session: Session, delivery_id: str) -> tuple[str, str]:
    """Start a finished delivery again with a fresh set of attempts; (task name, id) to send."""
    delivery = session.get(Delivery, delivery_id, with_for_update=True)
    if delivery is None:
        raise NotFound(f"delivery {delivery_id} not found", code="delivery_not_found")
    if DeliveryStatus(delivery.status).in_progress:
        raise Conflict(f"delivery {delivery_id} is still {delivery.status}",
                       code="delivery_in_progress")
    delivery.status, delivery.completed_at = DeliveryStatus.PENDING.value, None
    delivery.max_attempts = delivery.attempts + MAX_ATTEMPTS
    return TASKS[delivery.channel], delivery.id


def of_subscription(session: Session, subscription_id: str, limit: int = 100) -> list[Delivery]:
    subscriptions.get(session, subscription_id)
    return list(session.scalars(select(Delivery).where(Delivery.subscription_id == subscription_id)
                                .order_by(Delivery.created_at.desc()).limit(limit)))


def view(session: Session, delivery: Delivery) -> dict[str, Any]:
    attempts = session.scalars(select(DeliveryAttempt)
                               .where(DeliveryAttempt.delivery_id == delivery.id)
                               .order_by(DeliveryAttempt.attempt)).all()
    stamp: Callable[[datetime | None], str | None] = lambda t: t.isoformat() if t else None  # noqa: E731
    return {
        "id": delivery.id, "alert_event_id": delivery.alert_event_id,
        "channel": delivery.channel, "subscription_id": delivery.subscription_id,
        "account_id": delivery.account_id, "event_type": delivery.event_type,
        "status": delivery.status, "attempt_count": delivery.attempts,
        "next_attempt_at": stamp(delivery.next_attempt_at),
        "last_status_code": delivery.last_status_code, "last_error": delivery.last_error,
        "created_at": stamp(delivery.created_at), "completed_at": stamp(delivery.completed_at),
        "attempts": [{"attempt": a.attempt, "started_at": a.started_at.isoformat(),
                      "status_code": a.status_code, "error": a.error,
                      "latency_ms": a.latency_ms, "retry_in_seconds": a.retry_in_seconds}
                     for a in attempts],
    }
