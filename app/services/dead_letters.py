"""The dead-letter store: what the bridge could not accept, with its reason, until replayed."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.errors import NotFound
from app.messaging.inbound import Undecodable
from app.messaging.routing import Routed, route
from app.messaging.topology import DEAD_LETTER
from app.persistence.models import DeadLetter, utcnow
from app.services.outbox import record_event


def store(session: Session, *, subscription: str, message_id: str | None, data: bytes,
          attributes: Mapping[str, str], reason: str, detail: str) -> DeadLetter:
    """Keep the message whole and announce it on fusion.deadletter.v1 (through the outbox)."""
    letter = DeadLetter(subscription=subscription, message_id=message_id, data=data,
                        attributes=dict(attributes), reason=reason, detail=detail[:2000],
                        replay_count=0)
    session.add(letter)
    session.flush()
    record_event(session, topic=DEAD_LETTER, event_type="message.dead_lettered",
                 aggregate_id=subscription,
                 data={"dead_letter_id": letter.id, "subscription": subscription,
                       "message_id": message_id, "reason": reason, "detail": letter.detail,
                       "attributes": dict(attributes),
                       "data_base64": base64.b64encode(data[:65536]).decode()})
    return letter


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


def replay(session: Session, letter_id: str, *, data: bytes | None = None,
           attributes: Mapping[str, str] | None = None) -> Routed:
    """Route the stored message again, optionally corrected. Raises Undecodable (and keeps the
    letter) when it still cannot be accepted; the caller sends the task after commit."""
    letter = get(session, letter_id, lock=True)
    if data is not None:
        letter.data = data
    if attributes is not None:
        letter.attributes = dict(attributes)
    message_id = letter.message_id or f"dead-letter:{letter.id}"
    routed = route(letter.subscription, letter.data, letter.attributes, message_id)
    letter.replayed_at, letter.replay_count = utcnow(), letter.replay_count + 1
    return routed


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


__all__ = ["Undecodable", "describe", "get", "recent", "replay", "store"]
