"""Per-account notification preferences: channels, email address (sealed), quiet hours."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.domain.alerts.quiet_hours import QuietHours
from app.domain.alerts.routing import Channel
from app.domain.errors import InvalidInput, NotFound
from app.persistence.alerts_models import NotificationPreference
from app.services.compliance.pii import PiiCipher, pii_cipher


def _context(account_id: str) -> str:
    return f"notification_preference:{account_id}"


def put(session: Session, settings: Settings, account_id: str, *, channels: Sequence[str],
        email: str | None, quiet_start: time | None, quiet_end: time | None,
        timezone: str) -> NotificationPreference:
    if (quiet_start is None) != (quiet_end is None):
        raise InvalidInput("quiet hours need both start and end", code="invalid_quiet_hours",
                           field="quiet_hours")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(f"unknown timezone {timezone!r}", code="invalid_timezone",
                           field="timezone") from exc
    known = {c.value for c in Channel}
    if set(channels) - known:
        raise InvalidInput(f"channels must be among {sorted(known)}", code="invalid_channels",
                           field="channels")
    row = session.get(NotificationPreference, account_id, with_for_update=True)
    if row is None:
        row = NotificationPreference(account_id=account_id)
        session.add(row)
    cipher = pii_cipher(settings)
    row.channels = sorted(set(channels))
    row.email_sealed = cipher.seal(email, context=_context(account_id)) if email else None
    row.email_key_id = cipher.key_id if email else None
    row.quiet_start, row.quiet_end, row.timezone = quiet_start, quiet_end, timezone
    session.flush()
    return row


def find(session: Session, account_id: str) -> NotificationPreference | None:
    return session.get(NotificationPreference, account_id)


def get(session: Session, account_id: str) -> NotificationPreference:
    row = find(session, account_id)
    if row is None:
        raise NotFound(f"no notification preferences for {account_id}",
                       code="preferences_not_found")
    return row


def email_of(settings: Settings, row: NotificationPreference | None) -> str | None:
    if row is None or row.email_sealed is None:
        return None
    return str(pii_cipher(settings).open(row.email_sealed, context=_context(row.account_id),
                                         key_id=row.email_key_id))


def quiet_hours(row: NotificationPreference | None) -> QuietHours | None:
    if row is None or row.quiet_start is None or row.quiet_end is None:
        return None
    return QuietHours(row.quiet_start, row.quiet_end, row.timezone)


def view(settings: Settings, row: NotificationPreference) -> dict[str, Any]:
    quiet = quiet_hours(row)
    return {
        "account_id": row.account_id, "channels": list(row.channels),
        "email": email_of(settings, row), "timezone": row.timezone,
        "quiet_hours": None if quiet is None else {
            "start": quiet.start.strftime("%H:%M"), "end": quiet.end.strftime("%H:%M")},
    }


def reseal_emails(session: Session, cipher: PiiCipher, limit: int) -> int:
    """Move up to `limit` preference emails sealed under a previous key to the current one."""
    rows = session.scalars(
        select(NotificationPreference).where(
            NotificationPreference.email_sealed.is_not(None),
            NotificationPreference.email_key_id.is_distinct_from(cipher.key_id))
        .limit(limit).with_for_update(skip_locked=True)).all()
    for row in rows:
        assert row.email_sealed is not None  # the query asked for sealed emails only
        email = cipher.open(row.email_sealed, context=_context(row.account_id),
                            key_id=row.email_key_id)
        row.email_sealed = cipher.seal(email, context=_context(row.account_id))
        row.email_key_id = cipher.key_id
    return len(rows)
