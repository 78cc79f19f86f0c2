"""The overview's counts: commands per status over a window, and what waits for an operator."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from app.domain.commands import CommandStatus
from app.persistence.compliance_models import ComplianceAlert
from app.persistence.models import Command, DeadLetter, OutboxEvent
from app.services.queries.commands import HELD, held_clause

# The window a chart covers and the width of one bar.
WINDOWS: dict[str, tuple[timedelta, timedelta]] = {
    "hour": (timedelta(hours=1), timedelta(minutes=5)),
    "day": (timedelta(days=1), timedelta(hours=1)),
}
CHART_STATUSES = (*(s.value for s in CommandStatus), HELD)
OPEN_ALERT_STATUSES = ("open", "investigating")


@dataclass(frozen=True)
class Bucket:
    start: datetime
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def status_buckets(session: Session, now: datetime, window: str) -> list[Bucket]:
    """Commands received in the window, per bar and current status (held counted apart from
    received); every bar is present, empty ones too, so the time axis is even."""
    span, width = WINDOWS[window]
    seconds = int(width.total_seconds())
    end = datetime.fromtimestamp((int(now.timestamp()) // seconds + 1) * seconds, tz=now.tzinfo)
    start = end - span
    slot = func.floor(func.extract("epoch", Command.received_at) / seconds).label("slot")
    status = case((held_clause(), HELD), else_=Command.status).label("shown")
    rows = session.execute(select(slot, status, func.count()).where(
        Command.received_at >= start, Command.received_at < end).group_by(slot, status)).all()
    first = int(start.timestamp()) // seconds
    buckets = [Bucket(start + width * i, dict.fromkeys(CHART_STATUSES, 0))
               for i in range(int(span / width))]
    for slot_no, shown, count in rows:
        index = int(slot_no) - first
        if 0 <= index < len(buckets):
            buckets[index].counts[shown] += count
    return buckets


def settlement_rate(buckets: list[Bucket]) -> float | None:
    """Settled share of the window's commands that reached an outcome (None with none)."""
    settled = sum(b.counts[CommandStatus.SETTLED.value] for b in buckets)
    failed = sum(b.counts[CommandStatus.FAILED.value] for b in buckets)
    return settled / (settled + failed) if settled + failed else None


def open_dead_letters(session: Session, limit: int = 10) -> tuple[int, list[DeadLetter]]:
    pending = DeadLetter.replayed_at.is_(None)
    count = session.scalar(select(func.count()).select_from(DeadLetter).where(pending)) or 0
    rows = session.scalars(select(DeadLetter).where(pending)
                           .order_by(DeadLetter.received_at.desc()).limit(limit))
    return count, list(rows)


def open_alerts(session: Session, limit: int = 10) -> tuple[int, list[ComplianceAlert]]:
    waiting = ComplianceAlert.status.in_(OPEN_ALERT_STATUSES)
    count = session.scalar(select(func.count()).select_from(ComplianceAlert)
                           .where(waiting)) or 0
    rows = session.scalars(select(ComplianceAlert).where(waiting)
                           .order_by(ComplianceAlert.opened_at.desc()).limit(limit))
    return count, list(rows)


@dataclass(frozen=True)
class OutboxNow:
    unsent: int
    oldest_age_seconds: float


def outbox_now(session: Session, now: datetime) -> OutboxNow:
    """Unpublished outbox rows and the age of the oldest (ix_outbox_unpublished)."""
    count, oldest = session.execute(select(func.count(), func.min(OutboxEvent.created_at))
                                    .where(OutboxEvent.published_at.is_(None))).one()
    age = (now - oldest).total_seconds() if oldest is not None else 0.0
    return OutboxNow(int(count), max(age, 0.0))
