"""Margin recalculation, set-based: one query locks the selected accounts' risk rows and
returns each account's exact USD totals (PostgreSQL NUMERIC sums of quantity * latest price)
and its unpriced assets; the domain turns each into a status; publish stores the lot.

One account (an API request, a position change) and a chunk of a batch go through the same
code, so both give the same figures to the last digit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from app.domain.errors import NotFound
from app.domain.risk.margin import NUMERAIRE, MarginStatus, assess
from app.persistence import risk_store
from app.persistence.risk_models import RiskAccount, RiskMarginEvent, RiskSnapshot
from app.persistence.risk_store import Selection
from app.services.risk.publish import AccountResult, store_results


@dataclass(frozen=True, slots=True)
class Recomputed:
    accounts: int
    events: int
    results: tuple[AccountResult, ...]


def recompute(session: Session, selection: Selection, *, now: datetime, max_age: timedelta,
              cause: str, batch_id: str | None = None) -> Recomputed:
    """Recalculate the selected accounts, store snapshots, emit margin events on changes."""
    rows = risk_store.lock_and_value(session, selection, numeraire=NUMERAIRE,
                                     fresh_since=now - max_age)
    results = tuple(
        AccountResult(
            account_id=account_id,
            health=assess(collateral, borrowed, unpriced),
            previous_known=MarginStatus(known) if known else None,
            previous_score=score,
        )
        for account_id, known, score, collateral, borrowed, unpriced in rows
    )
    events = store_results(session, results, now=now, cause=cause, batch_id=batch_id)
    return Recomputed(len(results), events, results)


def recompute_account(session: Session, account_id: str, *, now: datetime,
                      max_age: timedelta, cause: str) -> AccountResult:
    done = recompute(session, Selection(account_ids=[account_id]), now=now, max_age=max_age,
                     cause=cause)
    if not done.results:
        raise NotFound(f"risk account {account_id} not found", code="risk_account_not_found")
    return done.results[0]


def ensure_account(session: Session, account_id: str) -> None:
    session.execute(insert(RiskAccount).values(account_id=account_id)
                    .on_conflict_do_nothing(index_elements=[RiskAccount.account_id]))


def get_account(session: Session, account_id: str) -> RiskAccount:
    account = session.get(RiskAccount, account_id)
    if account is None:
        raise NotFound(f"risk account {account_id} not found", code="risk_account_not_found")
    return account


def latest_snapshot(session: Session, account_id: str) -> RiskSnapshot | None:
    return session.scalars(select(RiskSnapshot).where(RiskSnapshot.account_id == account_id)
                           .order_by(RiskSnapshot.id.desc()).limit(1)).first()


def margin_events(session: Session, account_id: str, limit: int) -> list[RiskMarginEvent]:
    return list(session.scalars(
        select(RiskMarginEvent).where(RiskMarginEvent.account_id == account_id)
        .order_by(RiskMarginEvent.occurred_at.desc(), RiskMarginEvent.event_id).limit(limit)))
