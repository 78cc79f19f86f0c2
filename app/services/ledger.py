"""The PostgreSQL ledger: balances locked in a fixed order, transfers keyed by idempotency key."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from app.domain import ledger as rules
from app.domain.errors import Conflict, NotFound
from app.domain.ledger import TransferStatus
from app.domain.parties import ESCROW_PREFIX, EXTERNAL_PREFIX
from app.persistence.models import LedgerBalance, LedgerTransfer, utcnow


def external_account(asset: str, source: str = "bank") -> str:
    """Money outside the system, e.g. external:bank:USD or external:chain:11155111:ETH."""
    return f"{EXTERNAL_PREFIX}{source}:{asset}"


def escrow_hold_account(escrow_id: str) -> str:
    return f"{ESCROW_PREFIX}{escrow_id}"


def account_class(account_id: str) -> tuple[str, bool]:
    """(kind, no_overdraft) of a new balance row: only money outside the system may go
    below zero."""
    if account_id.startswith(EXTERNAL_PREFIX):
        return "external", False
    if account_id.startswith(ESCROW_PREFIX):
        return "escrow", True
    return "customer", True


def _select_locked(session: Session, asset: str, ids: list[str]) -> dict[str, LedgerBalance]:
    locked = session.scalars(
        select(LedgerBalance)
        .where(LedgerBalance.asset == asset, LedgerBalance.account_id.in_(ids))
        .order_by(LedgerBalance.account_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    return {b.account_id: b for b in locked}


def lock_balances(session: Session, asset: str, *account_ids: str) -> dict[str, LedgerBalance]:
    """Lock the balance rows in sorted order, so that two transfers between the same accounts
    in opposite directions cannot deadlock; rows seen for the first time are created first."""
    ids = sorted(set(account_ids))
    locked = _select_locked(session, asset, ids)
    missing = [a for a in ids if a not in locked]
    if not missing:
        return locked
    session.execute(insert(LedgerBalance).values([
        dict(zip(("kind", "no_overdraft"), account_class(a), strict=True),
             account_id=a, asset=asset)
        for a in missing
    ]).on_conflict_do_nothing())
    return _select_locked(session, asset, ids)


def open_transfer(
    session: Session,
    *,
    transfer_id: str,
    debit_account: str,
    credit_account: str,
    asset: str,
    amount: Decimal,
    pending: bool,
) -> LedgerTransfer:
    """Create a transfer once. A replay with the same terms returns the first one.

    The balances are locked before the insert, so the insert's outcome decides alone whether
    this call applies the amounts; a refusal afterwards rolls the insert back with them.
    """
    balances = lock_balances(session, asset, debit_account, credit_account)
    inserted = session.scalars(
        insert(LedgerTransfer)
        .values(transfer_id=transfer_id, debit_account=debit_account,
                credit_account=credit_account, asset=asset, amount=amount,
                status=(TransferStatus.PENDING if pending else TransferStatus.POSTED).value,
                resolved_at=None if pending else utcnow())
        .on_conflict_do_nothing(index_elements=[LedgerTransfer.transfer_id])
        .returning(LedgerTransfer)
    ).one_or_none()
    if inserted is None:
        transfer = session.get(LedgerTransfer, transfer_id)
        assert transfer is not None
        terms = (transfer.debit_account, transfer.credit_account, transfer.asset,
                 transfer.amount)
        if terms != (debit_account, credit_account, asset, amount):
            raise Conflict(f"transfer {transfer_id} exists with other terms",
                           code="transfer_conflict")
        return transfer
    rules.open_transfer(balances[debit_account], balances[credit_account], amount,
                        pending=pending)
    session.flush()
    return inserted


def resolve_transfer(session: Session, transfer_id: str, target: TransferStatus) -> None:
    """Post or void a pending transfer; repeating the same resolution changes nothing."""
    transfer = session.get(LedgerTransfer, transfer_id, with_for_update=True)
    if transfer is None:
        raise NotFound(f"transfer {transfer_id} not found")
    if not rules.resolve_pending(TransferStatus(transfer.status), target):
        return
    balances = lock_balances(session, transfer.asset, transfer.debit_account,
                             transfer.credit_account)
    debit, credit = balances[transfer.debit_account], balances[transfer.credit_account]
    if target is TransferStatus.POSTED:
        rules.post_pending(debit, credit, transfer.amount)
    else:
        rules.void_pending(debit, credit, transfer.amount)
    transfer.status = target.value
    transfer.resolved_at = utcnow()
    session.flush()


def account_balances(session: Session, account_id: str) -> list[LedgerBalance]:
    return list(
        session.scalars(
            select(LedgerBalance)
            .where(LedgerBalance.account_id == account_id)
            .order_by(LedgerBalance.asset)
        )
    )
