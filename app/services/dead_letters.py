"""The dead-letter store: what the bridge could not accept, with its reason, until replayed."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.errors import NotFound
from app.messaging.inbound import Undecodable
from app.messaging.routing import Routed, route
from app.messaging.topology import DEAD_LETTER
from app.persistence.models import DeadLetter, utcnow
from app.services import inbox
from app.services.outbox import record_event

# Letters of Celery tasks quarantined by the worker (not Pub/Sub messages) are filed under
# "celery:<queue>" and replayed by re-sending the task.
TASK_SUBSCRIPTION_PREFIX = "celery:"
POISON_TASK = "poison_task"


@dataclass(frozen=True, slots=True)
class TaskResend:
    """A quarantined Celery task to send again as it was (same id, name, queue and arguments)."""

    task_name: str
    queue: str
    task_id: str
    args: list[Any]
    kwargs: dict[str, Any]


def store(session: Session, *, subscription: str, message_id: str | None, data: bytes,
          attributes: Mapping[str, str], reason: str, detail: str) -> DeadLetter:
    """Keep the message whole and announce it on fusion.deadletter.v1 (through the outbox).
    The body is kept byte for byte; a NUL in an attribute or the detail, which PostgreSQL's
    text and jsonb cannot hold, is stored as U+FFFD (the letter must be storable, or the
    message would be redelivered forever)."""
    attributes = {_storable(k): _storable(v) for k, v in attributes.items()}
    letter = DeadLetter(subscription=subscription, message_id=message_id, data=data,
                        attributes=attributes, reason=reason,
                        detail=_storable(detail[:2000]), replay_count=0)
    session.add(letter)
    session.flush()
    record_event(session, topic=DEAD_LETTER, event_type="message.dead_lettered",
                 aggregate_id=subscription,
                 data={"dead_letter_id": letter.id, "subscription": subscription,
                       "message_id": message_id, "reason": reason, "detail": letter.detail,
                       "attributes": dict(attributes),
                       "data_base64": base64.b64encode(data[:65536]).decode()})
    return letter


def _storable(text: str) -> str:
    return text.replace("\x00", "\ufffd")


def quarantine_task(session: Session, *, queue: str, task_id: str, task_name: str,
                    args: list[Any], kwargs: dict[str, Any], deliveries: int) -> DeadLetter:
    """File a task that kept killing its worker. A second report of the same task while its
    letter is still pending (the worker died between this commit and the ack) adds nothing."""
    subscription = TASK_SUBSCRIPTION_PREFIX + queue
    pending = session.scalar(select(DeadLetter).where(
        DeadLetter.subscription == subscription, DeadLetter.message_id == task_id,
        DeadLetter.reason == POISON_TASK, DeadLetter.replayed_at.is_(None)).limit(1))
    if pending is not None:
        return pending
    data = json.dumps({"name": task_name, "args": args, "kwargs": kwargs}).encode()
    return store(session, subscription=subscription, message_id=task_id, data=data,
                 attributes={"task_name": task_name, "queue": queue, "task_id": task_id},
                 reason=POISON_TASK,
                 detail=f"delivered {deliveries} times without finishing (its worker process "
                        "died each time); not run again until replayed")


def get(session: Session, letter_id: str, *, lock: bool = False) -> DeadLetter:
    letter = session.get(DeadLetter, letter_id, with_for_update=lock)
    if letter is None:
        raise NotFound(f"dead letter {letter_id} not found", code="dead_letter_not_found")
    return letter


def recent(session: Session, *, limit: int = 100, reason: str | None = None,
           pending_only: bool = False) -> list[DeadLetter]:
    query = select(DeadLetter).order_by(DeadLetter.received_at.desc()).limit(limit)
    if reason:
        query = query.where(DeadLetter.reason == reason)
    if pending_only:
        query = query.where(DeadLetter.replayed_at.is_(None))
    return list(session.scalars(query))


def replay(session: Session, letter_id: str, *, resend_after: timedelta,
           data: bytes | None = None,
           attributes: Mapping[str, str] | None = None) -> Routed | TaskResend:
    """Route the stored message again, optionally corrected, or for a quarantined task, send the
    task again. Raises Undecodable (and keeps the letter) when it still cannot be accepted;
    the caller sends the task after commit. A replayed message goes into the inbox first, as
    the bridge's do, so a send lost after the letter is marked replayed is sent again by the
    sweeper after `resend_after`."""
    letter = get(session, letter_id, lock=True)
    if letter.subscription.startswith(TASK_SUBSCRIPTION_PREFIX):
        target: Routed | TaskResend = _task_resend(letter, data)
    else:
        message_id = letter.message_id or f"dead-letter:{letter.id}"
        target = route(letter.subscription, data if data is not None else letter.data,
                       attributes if attributes is not None else letter.attributes, message_id)
        inbox.record_received(session, [target], utcnow(), resend_after)
    if data is not None:
        letter.data = data
    if attributes is not None:
        letter.attributes = dict(attributes)
    letter.replayed_at, letter.replay_count = utcnow(), letter.replay_count + 1
    return target


def _task_resend(letter: DeadLetter, data: bytes | None) -> TaskResend:
    original = _task_body(letter.data)
    body = _task_body(data) if data is not None else original
    if body["name"] != original["name"]:
        # A replay corrects arguments; sending another task would bypass its own checks.
        raise Undecodable("task_name_changed",
                          f"a replay re-sends {original['name']!r}, not {body['name']!r}")
    return TaskResend(task_name=body["name"],
                      queue=letter.subscription.removeprefix(TASK_SUBSCRIPTION_PREFIX),
                      task_id=letter.message_id or f"dead-letter:{letter.id}",
                      args=body["args"], kwargs=body["kwargs"])


def _task_body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise Undecodable("invalid_task_body", f"not JSON: {exc}") from exc
    if not (isinstance(body, dict) and isinstance(body.get("name"), str)
            and isinstance(body.get("args", []), list)
            and isinstance(body.get("kwargs", {}), dict)):
        raise Undecodable("invalid_task_body",
                          'expected {"name": str, "args": [...], "kwargs": {...}}')
    return {"name": body["name"], "args": body.get("args", []),
            "kwargs": body.get("kwargs", {})}


def describe(letter: DeadLetter, *, with_data: bool = False) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": letter.id, "subscription": letter.subscription, "message_id": letter.message_id,
        "reason": letter.reason, "detail": letter.detail, "attributes": letter.attributes,
        "received_at": letter.received_at.isoformat() if letter.received_at else None,
        "replayed_at": letter.replayed_at.isoformat() if letter.replayed_at else None,
        "replay_count": letter.replay_count, "size": len(letter.data),
    }
    if with_data:
        view["data_base64"] = base64.b64encode(letter.data).decode()
        try:
            view["data_text"] = letter.data.decode("utf-8")
        except UnicodeDecodeError:
            view["data_text"] = None
    return view


__all__ = ["POISON_TASK", "TaskResend", "Undecodable", "describe", "get", "quarantine_task",
           "recent", "replay", "store"]
