"""Accounts and their positions: the positions API replaces collateral and borrow quantities;
escrowed quantities belong to the escrow events and are never touched here."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.risk.margin import ZERO, Position
from app.persistence.risk_models import RiskPosition
from app.services.intake import check_account
from app.services.risk.margin import ensure_account


def replace_positions(session: Session, account_id: str, positions: Sequence[Position]) -> str:
    """Make the account's collateral and borrows exactly `positions` (assets left out go to
    zero); creates the account on first use. Returns the normalised account id."""
    account_id = check_account(account_id, "account_id")
    ensure_account(session, account_id)
    held = {row.asset: row for row in session.scalars(
        select(RiskPosition).where(RiskPosition.account_id == account_id)
        .order_by(RiskPosition.asset).with_for_update())}
    wanted = {p.asset: p for p in positions}
    for asset, row in held.items():
        if asset not in wanted:
            row.collateral = row.borrowed = ZERO
    for asset, position in wanted.items():
        existing = held.get(asset)
        if existing is None:
            if not position.is_empty:
                session.add(RiskPosition(account_id=account_id, asset=asset,
                                         collateral=position.collateral,
                                         borrowed=position.borrowed, escrowed=ZERO))
            continue
        existing.collateral, existing.borrowed = position.collateral, position.borrowed
    for row in held.values():
        if not (row.collateral or row.borrowed or row.escrowed):
            session.delete(row)
    return account_id


def positions_of(session: Session, account_id: str) -> list[Position]:
    return [Position(r.asset, r.collateral, r.borrowed, r.escrowed) for r in session.scalars(
        select(RiskPosition).where(RiskPosition.account_id == account_id)
        .order_by(RiskPosition.asset))]
