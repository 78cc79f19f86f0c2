"""Margin recalculation, set-based: one query locks the selected accounts' risk rows and
returns each account's exact USD totals (PostgreSQL NUMERIC sums of quantity * latest price)
and its unpriced assets; the domain turns each into a status; publish stores the lot.

One account (an API request, a position change) and a chunk of a batch go through the same
code, so both give the same figures to the last digit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from app.domain.errors import NotFound
from app.domain.risk.margin import NUMERAIRE, MarginStatus, assess
from app.persistence.risk_models import RiskAccount, RiskMarginEvent, RiskSnapshot
from app.services.risk.publish import AccountResult, store_results


@dataclass(frozen=True, slots=True)
class Selection:
    """Which accounts: a list of ids, or the id range [lower, upper) of a batch chunk,
    optionally only those holding `asset` (a price move touches only its holders)."""

    account_ids: Sequence[str] | None = None
    lower: str | None = None
    upper: str | None = None
    asset: str | None = None

    def where(self, alias: Literal["a", "p"] = "a") -> tuple[str, dict[str, Any]]:
        """SQL condition on the accounts (alias a, with the asset filter) or on the positions
        (alias p: every position of the accounts in range)."""
        clauses: list[str] = ["TRUE"]
        params: dict[str, Any] = {}
        if self.account_ids is not None:
            clauses.append(f"{alias}.account_id = ANY(CAST(:ids AS text[]))")
            params["ids"] = list(self.account_ids)
        if self.lower is not None:
            clauses.append(f"{alias}.account_id >= :lower")
            params["lower"] = self.lower
        if self.upper is not None:
            clauses.append(f"{alias}.account_id < :upper")
            params["upper"] = self.upper
        if alias == "a" and self.asset is not None:
            # The range repeated on e lets PostgreSQL read (asset, account_id) index entries of
            # this chunk only, instead of hashing every holder of the asset.
            held = ["e.asset = :asset", "e.account_id = a.account_id"]
            if self.lower is not None:
                held.append("e.account_id >= :lower")
            if self.upper is not None:
                held.append("e.account_id < :upper")
            condition = " AND ".join(held)  # our literal fragments; values are bound parameters
            clauses.append(f"EXISTS (SELECT 1 FROM risk_positions e WHERE {condition})")  # noqa: S608
            params["asset"] = self.asset
        return " AND ".join(clauses), params


@dataclass(frozen=True, slots=True)
class Recomputed:
    accounts: int
    events: int
    results: tuple[AccountResult, ...]


# Locks first (in account-id order, so overlapping batches and single recalculations never
# deadlock), then values. The positions are read by the same id range (an index range scan),
# not joined to the locked rows, which would make PostgreSQL scan every position per chunk.
# trim_scale drops the 36 trailing zero decimals of NUMERIC(38,18) products, exactly, which
# makes the Decimal maths that follows much cheaper.
_QUERY = """
WITH locked AS MATERIALIZED (
    SELECT a.account_id, a.alert_status, a.health_score
      FROM risk_accounts a
     WHERE {accounts}
     ORDER BY a.account_id
       FOR UPDATE
), valued AS (
    SELECT p.account_id,
           trim_scale(sum((p.collateral + p.escrowed) * v.unit)) AS collateral_usd,
           trim_scale(sum(p.borrowed * v.unit)) AS borrow_usd,
           array_agg(p.asset) FILTER (WHERE v.unit IS NULL) AS unpriced
      FROM risk_positions p
      LEFT JOIN risk_prices r ON r.asset = p.asset
     CROSS JOIN LATERAL (
         SELECT CASE WHEN p.asset = :numeraire THEN 1
                     WHEN r.price_time >= :fresh_since THEN r.price_usd END AS unit) v
     WHERE {positions}
       AND (p.collateral <> 0 OR p.borrowed <> 0 OR p.escrowed <> 0)
     GROUP BY p.account_id
)
SELECT l.account_id, l.alert_status, l.health_score,
       coalesce(v.collateral_usd, 0), coalesce(v.borrow_usd, 0), coalesce(v.unpriced, '{{}}')
  FROM locked l
  LEFT JOIN valued v ON v.account_id = l.account_id
 ORDER BY l.account_id
"""


def recompute(session: Session, selection: Selection, *, now: datetime, max_age: timedelta,
              cause: str, batch_id: str | None = None) -> Recomputed:
    """Recalculate the selected accounts, store snapshots, emit margin events on changes."""
    accounts, params = selection.where("a")
    positions, _ = selection.where("p")
    rows = session.execute(text(_QUERY.format(accounts=accounts, positions=positions)), {
        **params, "numeraire": NUMERAIRE, "fresh_since": now - max_age}).all()
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
