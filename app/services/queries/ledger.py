"""The ledger at a glance: per-asset totals with the zero-sum check, one account's transfers."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from app.persistence.models import LedgerBalance, LedgerTransfer
from app.services.queries.paging import Page, clamp, decode_cursor, encode_cursor


@dataclass(frozen=True)
class AssetTotal:
    asset: str
    accounts: int
    posted_sum: Decimal
    debits_pending: Decimal
    credits_pending: Decimal

    @property
    def balanced(self) -> bool:
        # The reconciliation's asset_zero_sum invariant (app.domain.reconciliation): every
        # transfer debits one account what it credits another.
        return self.posted_sum == 0 and self.debits_pending == self.credits_pending


def asset_totals(session: Session) -> list[AssetTotal]:
    rows = session.execute(
        select(LedgerBalance.asset, func.count(),
               func.sum(LedgerBalance.credits_posted - LedgerBalance.debits_posted),
               func.sum(LedgerBalance.debits_pending), func.sum(LedgerBalance.credits_pending))
        .group_by(LedgerBalance.asset).order_by(LedgerBalance.asset)).all()
    return [AssetTotal(asset, count, posted, debits, credits)
            for asset, count, posted, debits, credits in rows]


def account_transfers(session: Session, account_id: str, *, cursor: str | None = None,
                      limit: int | None = None) -> Page[LedgerTransfer]:
    """The account's transfers either way, newest first (ix_ledger_transfers_debit/credit)."""
    size = clamp(limit)
    found: list[LedgerTransfer] = []
    for column in (LedgerTransfer.debit_account, LedgerTransfer.credit_account):
        query = (select(LedgerTransfer).where(column == account_id)
                 .order_by(LedgerTransfer.created_at.desc(), LedgerTransfer.transfer_id.desc()))
        if cursor:
            at, key = decode_cursor(cursor)
            query = query.where(or_(LedgerTransfer.created_at < at,
                                    and_(LedgerTransfer.created_at == at,
                                         LedgerTransfer.transfer_id < key)))
        found += session.scalars(query.limit(size + 1))
    found.sort(key=lambda t: (t.created_at, t.transfer_id), reverse=True)
    more = len(found) > size
    page = found[:size]
    last = page[-1] if more else None
    return Page(page, encode_cursor(last.created_at, last.transfer_id) if last else None)
