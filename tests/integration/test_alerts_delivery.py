"""Margin alerts → stored, signed, retried webhook deliveries and SMTP email, on a real worker."""

# ruff: noqa: F811 - fixtures imported from test_alerts_support are requested by name

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.config import get_settings
from app.domain.alerts.routing import verify
from app.persistence.alerts_models import Delivery, DeliveryAttempt
from app.persistence.db import unit_of_work
from app.services.alerts import preferences, subscriptions
from tasks.celery_app import celery_app
from tests.integration.test_alerts_support import (  # noqa: F401 - fixtures
    Inbox,
    Receiver,
    alerts_env,
    alerts_worker,
    body_json,
    margin_event,
    receiver,
    send_alert,
    smtp_inbox,
    task_result,
)
from tests.support import Worker, wait_for


@pytest.fixture
def subscribe(alerts_worker: Worker) -> Iterator[Any]:
    """Create subscriptions through the service; deleted afterwards so later alerts skip them."""
    made: list[str] = []

    def _subscribe(url: str, event_types: tuple[str, ...] = ("margin_call",)) -> tuple[str, str]:
        with unit_of_work() as session:
            row, secret = subscriptions.create(session, get_settings(), url=url,
                                               event_types=event_types, description="test")
        made.append(row.id)
        return row.id, secret

    yield _subscribe
    with unit_of_work() as session:
        for subscription_id in made:
            subscriptions.delete(session, subscription_id, datetime.now(UTC))


def deliveries(**where: str) -> list[Delivery]:
    with unit_of_work() as session:
        query = select(Delivery).filter_by(**where).order_by(Delivery.created_at)
        return list(session.scalars(query))


def attempts(delivery_id: str) -> list[DeliveryAttempt]:
    with unit_of_work() as session:
        return list(session.scalars(select(DeliveryAttempt).filter_by(delivery_id=delivery_id)
                                    .order_by(DeliveryAttempt.attempt)))


def finished(subscription_id: str, status: str) -> Delivery | None:
    rows = deliveries(subscription_id=subscription_id)
    return rows[0] if rows and rows[0].status == status else None


def set_preferences(account: str, email: str, *, quiet: tuple[time, time] | None = None) -> None:
    with unit_of_work() as session:
        preferences.put(session, get_settings(), account, channels=["email", "webhook"],
                        email=email, quiet_start=quiet[0] if quiet else None,
                        quiet_end=quiet[1] if quiet else None, timezone="UTC")


def test_a_delivery_is_signed_with_the_subscription_secret(receiver: Receiver,
                                                           subscribe: Any) -> None:
    subscription_id, secret = subscribe(receiver.url)
    event = margin_event(severity="critical")
    send_alert(event)
    wait_for(lambda: receiver.requests, what="webhook received")
    got = receiver.requests[0]
    assert verify(secret, got.body, got.headers["X-Fusion-Prime-Signature"])
    assert got.headers["X-Fusion-Prime-Event-Type"] == "margin_call"
    assert got.headers["X-Fusion-Prime-Attempt"] == "1"
    assert body_json(got)["event_id"] == event["data"]["event_id"]
    delivery = wait_for(lambda: finished(subscription_id, "succeeded"), what="succeeded")
    assert got.headers["X-Fusion-Prime-Delivery-ID"] == delivery.id


def test_a_500_then_200_succeeds_on_attempt_2_after_the_backoff(receiver: Receiver,
                                                                 subscribe: Any) -> None:
    receiver.statuses = [500, 200]
    subscription_id, _ = subscribe(receiver.url)
    send_alert(margin_event())
    delivery = wait_for(lambda: finished(subscription_id, "succeeded"), what="succeeded")
    first, second = attempts(delivery.id)
    assert (first.status_code, second.status_code) == (500, 200)
    assert first.retry_in_seconds == pytest.approx(0.05) and second.retry_in_seconds is None
    assert second.started_at - first.started_at >= timedelta(seconds=0.05)
    assert [r.headers["X-Fusion-Prime-Attempt"] for r in receiver.requests] == ["1", "2"]


def test_a_receiver_that_is_down_exhausts_after_5_attempts(subscribe: Any) -> None:
    closed = Receiver().start()
    url = closed.url
    closed.stop()
    subscription_id, _ = subscribe(url)
    send_alert(margin_event())
    delivery = wait_for(lambda: finished(subscription_id, "exhausted"), what="exhausted")
    tried = attempts(delivery.id)
    assert [a.attempt for a in tried] == [1, 2, 3, 4, 5]
    assert all(a.status_code is None and a.error for a in tried)
    assert [a.retry_in_seconds for a in tried] == pytest.approx([0.05, 0.1, 0.2, 0.4, None])


def test_the_same_alert_three_times_is_delivered_once_per_subscription(
        receiver: Receiver, subscribe: Any) -> None:
    first, _ = subscribe(receiver.url)
    second, _ = subscribe(receiver.url)
    event_id = str(uuid.uuid4())
    # As Pub/Sub redelivers it: a new message id each time, all three in flight at once.
    fanouts = [send_alert(margin_event(event_id=event_id, account="acc-dup")) for _ in range(3)]
    sent = [task_result(task_id)["sent"] for task_id in fanouts]
    assert sorted(sent) == [0, 0, 2]  # one fan-out sends a delivery per subscription; twins none
    for subscription_id in (first, second):
        wait_for(lambda s=subscription_id: finished(s, "succeeded"), what="delivered")
    assert len(deliveries(subscription_id=first)) == len(deliveries(subscription_id=second)) == 1
    assert len(deliveries(alert_event_id=event_id, channel="webhook")) == 2
    assert len(receiver.requests) == 2


def test_critical_goes_to_email_and_webhook_medium_to_email_only(
        receiver: Receiver, subscribe: Any, smtp_inbox: tuple[Inbox, int]) -> None:
    inbox, _ = smtp_inbox
    account = f"acc-{uuid.uuid4().hex[:8]}"
    address = f"{account}@example.com"
    set_preferences(account, address)
    subscribe(receiver.url, ("margin_call", "margin_warning"))
    critical = margin_event("margin_call", severity="critical", account=account)
    medium = margin_event("margin_warning", severity="medium", account=account)
    send_alert(critical)
    send_alert(medium)
    wait_for(lambda: len(inbox.to(address)) == 2, what="two emails")
    wait_for(lambda: receiver.requests, what="webhook")
    assert [body_json(r)["event_id"] for r in receiver.requests] == [critical["data"]["event_id"]]
    assert not deliveries(alert_event_id=medium["data"]["event_id"], channel="webhook")
    subjects = sorted(m["Subject"] for m in inbox.to(address))
    assert subjects == [f"[CRITICAL] Margin call: account {account}",
                        f"[MEDIUM] Margin warning: account {account}"]
    text = inbox.to(address)[0].get_payload()
    assert account in text and "What to do" in text


def test_quiet_hours_hold_a_medium_alert_and_release_it_after(
        alerts_worker: Worker, smtp_inbox: tuple[Inbox, int]) -> None:
    inbox, _ = smtp_inbox
    account = f"acc-{uuid.uuid4().hex[:8]}"
    address = f"{account}@example.com"
    now = datetime.now(UTC)
    end = now + timedelta(seconds=3)
    set_preferences(account, address, quiet=((now - timedelta(minutes=5)).time().replace(
        microsecond=0), end.time()))
    event = margin_event("margin_warning", severity="medium", account=account)
    send_alert(event)
    held = wait_for(lambda: deliveries(alert_event_id=event["data"]["event_id"]),
                    what="delivery stored")[0]
    assert held.status == "held" and held.next_attempt_at is not None
    early = celery_app.send_task("alerts.release_held")  # before the end: nothing is due yet
    assert early.get(timeout=30) == {"released": 0}
    assert not inbox.to(address)
    wait_for(lambda: datetime.now(UTC) > end, timeout=10, what="quiet hours over")
    # Beat and an operator (or two beats) may release at once: the held delivery goes once.
    releases = [celery_app.send_task("alerts.release_held") for _ in range(2)]
    assert sorted(r.get(timeout=30)["released"] for r in releases) == [0, 1]
    wait_for(lambda: deliveries(alert_event_id=event["data"]["event_id"])[0].status
             == "succeeded", what="delivery recorded as succeeded")
    assert len(inbox.to(address)) == 1
