"""Escrow events (settlement.events.v1, risk-events subscription) keep each payer's escrowed
quantities current: an open escrow counts as its payer's collateral until released or refunded.

Each event applies once per dedup key (the inbound log, consumer `risk`) and once per escrow
(the risk_escrows row): EscrowCreated and EscrowDeployed of one escrow add its amount once, and a
release seen before its escrow leaves a closed row so the late creation adds nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from app.domain.money import from_base_units
from app.persistence.risk_models import RiskEscrow, RiskPosition
from app.services.chain_events import CREATION, contract_of, record
from app.services.risk.margin import ensure_account

CONSUMER = "risk"
CLOSING = ("EscrowReleased", "EscrowRefunded")


@dataclass(frozen=True, slots=True)
class EscrowOutcome:
    outcome: str  # applied | ignored | recorded | duplicate
    account_id: str | None = None  # whose margin to recalculate after commit

    def as_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "account_id": self.account_id}


def apply_escrow_event(session: Session, event: Mapping[str, Any], now: datetime,
                       decimals: Mapping[str, int], asset: str) -> EscrowOutcome:
    event_type, data = str(event["event_type"]), event["data"]
    contract = contract_of(event_type, data)
    row = record(session, CONSUMER, event, aggregate_id=contract)
    if row is None:
        return EscrowOutcome("duplicate")
    if event_type in CREATION:
        outcome = _open(session, contract, data, decimals, asset)
    elif event_type in CLOSING:
        outcome = _close(session, contract, data, decimals, asset)
    else:  # Approved changes nothing the risk engine values
        outcome = EscrowOutcome("ignored")
    row.status, row.applied_at = outcome.outcome, now
    return outcome


def _amount(data: Mapping[str, Any], decimals: Mapping[str, int], asset: str) -> Decimal:
    return from_base_units(str(data["amount"]), asset, decimals).amount


def _open(session: Session, contract: str, data: Mapping[str, Any],
          decimals: Mapping[str, int], asset: str) -> EscrowOutcome:
    payer, amount = str(data["payer"]), _amount(data, decimals, asset)
    created = session.execute(
        insert(RiskEscrow).values(contract_address=contract, account_id=payer, asset=asset,
                                  amount=amount, status="open")
        .on_conflict_do_nothing().returning(RiskEscrow.contract_address)).scalar_one_or_none()
    if created is None:
        return EscrowOutcome("ignored")
    ensure_account(session, payer)
    _add_escrowed(session, payer, asset, amount)
    return EscrowOutcome("applied", payer)


def _close(session: Session, contract: str, data: Mapping[str, Any],
           decimals: Mapping[str, int], asset: str) -> EscrowOutcome:
    tombstone = session.execute(
        insert(RiskEscrow).values(contract_address=contract, account_id=None, asset=asset,
                                  amount=_amount(data, decimals, asset), status="closed")
        .on_conflict_do_nothing().returning(RiskEscrow.contract_address)).scalar_one_or_none()
    if tombstone is not None:
        return EscrowOutcome("recorded")
    escrow = session.get(RiskEscrow, contract, with_for_update=True)
    if escrow is None or escrow.status == "closed" or escrow.account_id is None:
        return EscrowOutcome("ignored")
    escrow.status = "closed"
    _add_escrowed(session, escrow.account_id, escrow.asset, -escrow.amount)
    return EscrowOutcome("applied", escrow.account_id)


def _add_escrowed(session: Session, account_id: str, asset: str, delta: Decimal) -> None:
    # One atomic statement each way: two escrows of one payer may apply concurrently. A release
    # is a plain UPDATE, since PostgreSQL checks an upsert's CHECK constraints on the row it
    # would insert, and the position exists since the escrow opened.
    if delta < 0:
        session.execute(update(RiskPosition).where(
            RiskPosition.account_id == account_id, RiskPosition.asset == asset)
            .values(escrowed=RiskPosition.escrowed + delta))
        return
    upsert = insert(RiskPosition).values(account_id=account_id, asset=asset,
                                         collateral=0, borrowed=0, escrowed=delta)
    session.execute(upsert.on_conflict_do_update(
        index_elements=[RiskPosition.account_id, RiskPosition.asset],
        set_={"escrowed": RiskPosition.escrowed + upsert.excluded.escrowed}))
