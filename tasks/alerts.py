"""Alert tasks (the `alerts` queue): fan a margin alert out, deliver, release held ones.

Each delivery's attempts are counted in Postgres, not in Celery's retry counter, so a
redelivered task message neither repeats a finished delivery nor resets its schedule."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from app.config import get_settings
from app.persistence.db import unit_of_work
from app.services.alerts import deliveries, fanout
from tasks.celery_app import fusion_task
from tasks.inbound import inbound_unit_of_work
from tasks.senders import send_delivery


def _now() -> datetime:
    return datetime.now(UTC)


def send_deliveries(sends: Iterable[tuple[str, str]]) -> int:
    """Enqueue after commit; a lost send is picked up again by alerts.release_held."""
    count = 0
    for task_name, delivery_id in sends:
        send_delivery(task_name, delivery_id)
        count += 1
    return count


@fusion_task("alerts.handle_margin_event")
def handle_margin_event(event: dict[str, Any], message_id: str | None = None) -> dict[str, Any]:
    with inbound_unit_of_work(event) as session:
        result = fanout.accept(session, event, _now())
    return {"dedup_key": event["dedup_key"], "outcome": result.outcome,
            "sent": send_deliveries(result.sends)}


def _deliver(task: Any, delivery_id: str) -> dict[str, Any]:
    outcome = deliveries.attempt(get_settings(), delivery_id, _now)
    if outcome.retry_in is not None:
        # A Celery retry with a countdown: the worker is free while the backoff runs.
        raise task.retry(countdown=outcome.retry_in)
    return {"delivery_id": delivery_id, "status": outcome.status, "attempt": outcome.attempt}


@fusion_task("alerts.deliver_webhook", bind=True)
def deliver_webhook(self: Any, delivery_id: str) -> dict[str, Any]:
    return _deliver(self, delivery_id)


@fusion_task("alerts.send_email", bind=True)
def send_email(self: Any, delivery_id: str) -> dict[str, Any]:
    return _deliver(self, delivery_id)


@fusion_task("alerts.release_held")
def release_held() -> dict[str, Any]:
    with unit_of_work() as session:
        sends = fanout.release_due(session, _now())
    return {"released": send_deliveries(sends)}
