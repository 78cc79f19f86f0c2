"""Margin health across accounts (bands, the nearest to liquidation) and over time for one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.domain.risk.margin import MarginStatus
from app.persistence.risk_models import RiskAccount, RiskMarginEvent, RiskSnapshot

BANDS = tuple(s.value for s in MarginStatus)
MAX_HISTORY = 2000


def band_counts(session: Session) -> dict[str, int]:
    """Accounts per margin status; never-calculated accounts count as UNKNOWN."""
    counts = dict.fromkeys(BANDS, 0)
    shown = func.coalesce(RiskAccount.status, MarginStatus.UNKNOWN.value)
    for status, count in session.execute(select(shown, func.count()).group_by(shown)):
        counts[status] = counts.get(status, 0) + count
    return counts


def nearest_liquidation(session: Session, limit: int = 20) -> list[RiskAccount]:
    """The lowest health scores first. A top-N scan on purpose: an index on health_score would
    end the HOT updates every recalculation relies on (alembic 0012)."""
    return list(session.scalars(
        select(RiskAccount).where(RiskAccount.health_score.is_not(None),
                                  RiskAccount.status != MarginStatus.UNKNOWN.value)
        .order_by(RiskAccount.health_score, RiskAccount.account_id).limit(limit)))


@dataclass(frozen=True)
class History:
    snapshots: list[RiskSnapshot]
    events: list[RiskMarginEvent]
    truncated: bool


def margin_history(session: Session, account_id: str, *, since: datetime | None = None,
                   until: datetime | None = None, limit: int = MAX_HISTORY) -> History:
    """Stored snapshots in [since, until), oldest first, and the margin events among them.
    With more than `limit` snapshots the newest `limit` are kept (`truncated`)."""
    query = select(RiskSnapshot).where(RiskSnapshot.account_id == account_id)
    events = select(RiskMarginEvent).where(RiskMarginEvent.account_id == account_id)
    if since is not None:
        query = query.where(RiskSnapshot.calculated_at >= since)
        events = events.where(RiskMarginEvent.occurred_at >= since)
    if until is not None:
        query = query.where(RiskSnapshot.calculated_at < until)
        events = events.where(RiskMarginEvent.occurred_at < until)
    rows = list(session.scalars(query.order_by(RiskSnapshot.id.desc()).limit(limit + 1)))
    truncated = len(rows) > limit
    # Fetched by id (the index's order); shown by time: two recalculations racing may store
    # their snapshots in the other order.
    rows = sorted(rows[:limit], key=lambda r: (r.calculated_at, r.id))
    marks = list(session.scalars(events.order_by(RiskMarginEvent.occurred_at).limit(limit)))
    return History(rows, marks, truncated)
