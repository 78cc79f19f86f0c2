"""The inbound inbox (alembic 0010): one row per relayed message and subscription, written by
the bridge before it acks, marked processed by the consumer in the transaction of its effect."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.persistence.models import Base

RECEIVED, PROCESSED = "received", "processed"


class InboxEntry(Base):
    __tablename__ = "inbound_inbox"
    __table_args__ = (
        Index("ix_inbox_due", "next_resend_at", postgresql_where=text("status = 'received'")),
    )

    subscription: Mapped[str] = mapped_column(String(200), primary_key=True)
    dedup_key: Mapped[str] = mapped_column(String(300), primary_key=True)
    task_name: Mapped[str] = mapped_column(String(200))
    message_id: Mapped[str | None] = mapped_column(String(200))
    event: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))
    resends: Mapped[int] = mapped_column(server_default="0")
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())
    next_resend_at: Mapped[datetime]
    processed_at: Mapped[datetime | None]


# One statement whatever the group's size (up to 1000 rows): with RETURNING, SQLAlchemy sends
# an executemany of it as one multi-row INSERT (insertmanyvalues), compiled once per process
# rather than once per group; without it, psycopg would run one INSERT per row.
_INSERT_RECEIVED = insert(InboxEntry).on_conflict_do_nothing().returning(InboxEntry.dedup_key)


def insert_received(session: Session, rows: Sequence[dict[str, Any]],
                    resend_at: datetime) -> None:
    """One multi-row INSERT; a row already there (a redelivery) is left as it is."""
    if not rows:
        return
    session.execute(_INSERT_RECEIVED, [{**row, "status": RECEIVED, "resends": 0,
                                        "next_resend_at": resend_at} for row in rows])


def mark_processed(session: Session, subscription: str, dedup_key: str, now: datetime) -> None:
    session.execute(update(InboxEntry)
                    .where(InboxEntry.subscription == subscription,
                           InboxEntry.dedup_key == dedup_key, InboxEntry.status == RECEIVED)
                    .values(status=PROCESSED, processed_at=now))


def claim_due(session: Session, now: datetime, limit: int) -> list[InboxEntry]:
    """Rows still unprocessed whose resend time has come, locked; another sweeper skips them."""
    return list(session.scalars(
        select(InboxEntry)
        .where(InboxEntry.status == RECEIVED, InboxEntry.next_resend_at <= now)
        .order_by(InboxEntry.next_resend_at)
        .limit(limit)
        .with_for_update(skip_locked=True)))


def postpone(entry: InboxEntry, until: datetime) -> None:
    entry.resends += 1
    entry.next_resend_at = until


# In bounded chunks, so a nightly prune never holds one long transaction over a big table.
_DELETE_PROCESSED = text("""
    DELETE FROM inbound_inbox WHERE (subscription, dedup_key) IN (
        SELECT subscription, dedup_key FROM inbound_inbox
        WHERE status = :processed AND processed_at < :cutoff LIMIT :limit)
""")


def delete_processed_before(session: Session, cutoff: datetime, limit: int) -> int:
    """Delete up to `limit` rows processed before `cutoff`; returns how many went."""
    result = session.execute(_DELETE_PROCESSED,
                             {"processed": PROCESSED, "cutoff": cutoff, "limit": limit})
    return int(getattr(result, "rowcount", 0) or 0)


__all__ = ["PROCESSED", "RECEIVED", "InboxEntry", "claim_due", "delete_processed_before",
           "insert_received", "mark_processed", "postpone"]
