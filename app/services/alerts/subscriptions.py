"""Webhook subscriptions. The secret is shown once, at creation or rotation; stored sealed."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.domain.errors import InvalidInput, NotFound
from app.messaging.topology import MARGIN_EVENTS
from app.persistence.alerts_models import WebhookSubscription
from app.persistence.models import new_id
from app.services.alerts.ssrf import check_url
from app.services.compliance.pii import PiiCipher, pii_cipher

SECRET_PREFIX = "whsec_"  # noqa: S105 - a marker that tells secrets apart, not a secret


def _context(subscription_id: str) -> str:
    return f"webhook_subscription:{subscription_id}"


def _new_secret(settings: Settings, row: WebhookSubscription) -> str:
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    cipher = pii_cipher(settings)
    row.secret_sealed = cipher.seal(secret, context=_context(row.id))
    row.secret_key_id = cipher.key_id
    return secret


def secret_of(settings: Settings, row: WebhookSubscription) -> str:
    return str(pii_cipher(settings).open(row.secret_sealed, context=_context(row.id),
                                         key_id=row.secret_key_id))


def create(session: Session, settings: Settings, *, url: str, event_types: Sequence[str],
           description: str | None) -> tuple[WebhookSubscription, str]:
    """A new subscription and its secret (the only time the secret leaves the database)."""
    check_url(url, allow_private=settings.webhook_allow_private_networks)
    unknown = sorted(set(event_types) - set(MARGIN_EVENTS))
    if not event_types or unknown:
        raise InvalidInput(f"event_types must be among {list(MARGIN_EVENTS)}; got {unknown}",
                           code="invalid_event_types", field="event_types")
    row = WebhookSubscription(id=new_id(), url=url, event_types=sorted(set(event_types)),
                              description=description)
    secret = _new_secret(settings, row)
    session.add(row)
    session.flush()
    return row, secret


def get(session: Session, subscription_id: str, *, lock: bool = False) -> WebhookSubscription:
    row = session.get(WebhookSubscription, subscription_id, with_for_update=lock)
    if row is None or row.deleted_at is not None:
        raise NotFound(f"webhook {subscription_id} not found", code="webhook_not_found")
    return row


def active(session: Session) -> list[WebhookSubscription]:
    return list(session.scalars(select(WebhookSubscription)
                                .where(WebhookSubscription.deleted_at.is_(None))
                                .order_by(WebhookSubscription.created_at)))


def matching(session: Session, event_type: str) -> list[WebhookSubscription]:
    return list(session.scalars(select(WebhookSubscription).where(
        WebhookSubscription.deleted_at.is_(None),
        WebhookSubscription.event_types.contains([event_type]))))


def delete(session: Session, subscription_id: str, now: datetime) -> None:
    """Soft delete: its deliveries stay readable; pending ones are skipped when they run."""
    get(session, subscription_id, lock=True).deleted_at = now


def rotate_secret(session: Session, settings: Settings, subscription_id: str,
                  now: datetime) -> tuple[WebhookSubscription, str]:
    row = get(session, subscription_id, lock=True)
    secret = _new_secret(settings, row)
    row.secret_rotated_at = now
    return row, secret


def view(row: WebhookSubscription, secret: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": row.id, "url": row.url, "event_types": list(row.event_types),
        "description": row.description, "created_at": row.created_at.isoformat(),
        "secret_rotated_at": row.secret_rotated_at.isoformat() if row.secret_rotated_at
        else None,
    }
    if secret is not None:
        body["secret"] = secret
    return body


def reseal_secrets(session: Session, cipher: PiiCipher, limit: int) -> int:
    """Move up to `limit` webhook secrets sealed under a previous key to the current one."""
    rows = session.scalars(
        select(WebhookSubscription).where(WebhookSubscription.secret_key_id != cipher.key_id)
        .limit(limit).with_for_update(skip_locked=True)).all()
    for row in rows:
        secret = cipher.open(row.secret_sealed, context=_context(row.id), key_id=row.secret_key_id)
        row.secret_sealed = cipher.seal(secret, context=_context(row.id))
        row.secret_key_id = cipher.key_id
    return len(rows)
