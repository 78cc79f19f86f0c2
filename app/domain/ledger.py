"""Double-entry ledger rules (the TigerBeetle model): two-phase transfers over per-asset balances.

The same balance arithmetic serves the in-memory `Ledger` (used by property tests) and the
PostgreSQL service, which loads the balance rows under row locks and applies these functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from enum import StrEnum
from typing import Protocol

from app.domain.errors import Conflict, GuardFailed, InsufficientFunds, InvalidInput
from app.domain.money import MONEY_CONTEXT

ZERO = Decimal(0)


class TransferStatus(StrEnum):
    PENDING = "pending"
    POSTED = "posted"
    VOIDED = "voided"


class BalanceState(Protocol):
    """What a balance must expose; both the dataclass below and the ORM row satisfy it."""

    account_id: str
    asset: str
    no_overdraft: bool
    debits_posted: Decimal
    credits_posted: Decimal
    debits_pending: Decimal
    credits_pending: Decimal


@dataclass
class Balance:
    account_id: str
    asset: str
    no_overdraft: bool = True
    debits_posted: Decimal = ZERO
    credits_posted: Decimal = ZERO
    debits_pending: Decimal = ZERO
    credits_pending: Decimal = ZERO


def posted(balance: BalanceState) -> Decimal:
    with localcontext(MONEY_CONTEXT):
        return balance.credits_posted - balance.debits_posted


def available(balance: BalanceState) -> Decimal:
    """Posted balance less what pending debits already hold."""
    with localcontext(MONEY_CONTEXT):
        return balance.credits_posted - balance.debits_posted - balance.debits_pending


def _check_pair(debit: BalanceState, credit: BalanceState, amount: Decimal) -> None:
    if amount <= 0:
        raise InvalidInput("transfer amount must be positive", code="amount_not_positive")
    if debit.asset != credit.asset:
        raise InvalidInput("a transfer moves one asset", code="asset_mismatch")
    if debit.account_id == credit.account_id:
        raise InvalidInput("a transfer needs two different accounts", code="same_account")


def open_transfer(
    debit: BalanceState, credit: BalanceState, amount: Decimal, *, pending: bool
) -> None:
    """Apply a new transfer: posted at once, or pending (held) until post or void."""
    _check_pair(debit, credit, amount)
    if debit.no_overdraft and available(debit) < amount:
        raise InsufficientFunds(
            f"{debit.account_id} has {available(debit)} {debit.asset} available, needs {amount}"
        )
    with localcontext(MONEY_CONTEXT):
        if pending:
            debit.debits_pending += amount
            credit.credits_pending += amount
        else:
            debit.debits_posted += amount
            credit.credits_posted += amount


def post_pending(debit: BalanceState, credit: BalanceState, amount: Decimal) -> None:
    """Turn a held amount into a posted one. Availability was checked when it was held."""
    _check_pair(debit, credit, amount)
    with localcontext(MONEY_CONTEXT):
        debit.debits_pending -= amount
        credit.credits_pending -= amount
        debit.debits_posted += amount
        credit.credits_posted += amount


def void_pending(debit: BalanceState, credit: BalanceState, amount: Decimal) -> None:
    _check_pair(debit, credit, amount)
    with localcontext(MONEY_CONTEXT):
        debit.debits_pending -= amount
        credit.credits_pending -= amount


def resolve_pending(current: TransferStatus, target: TransferStatus) -> bool:
    """Whether moving a transfer to `target` changes anything; raises on a forbidden move.

    A second post of a posted transfer (or void of a voided one) is a harmless replay.
    """
    if current is target:
        return False
    if current is TransferStatus.PENDING and target in (TransferStatus.POSTED,
                                                        TransferStatus.VOIDED):
        return True
    raise GuardFailed(f"transfer is {current}, cannot become {target}",
                      code="transfer_already_resolved")


@dataclass
class Transfer:
    transfer_id: str
    debit_account: str
    credit_account: str
    asset: str
    amount: Decimal
    status: TransferStatus
    created_pending: bool = False


@dataclass
class Ledger:
    """In-memory ledger with the exact rules of the database one; used by property tests."""

    balances: dict[tuple[str, str], Balance] = field(default_factory=dict)
    transfers: dict[str, Transfer] = field(default_factory=dict)

    def account(self, account_id: str, asset: str, *, no_overdraft: bool = True) -> Balance:
        key = (account_id, asset)
        if key not in self.balances:
            self.balances[key] = Balance(account_id, asset, no_overdraft=no_overdraft)
        return self.balances[key]

    def transfer(self, transfer_id: str, debit_account: str, credit_account: str, asset: str,
                 amount: Decimal, *, pending: bool = False) -> Transfer:
        existing = self.transfers.get(transfer_id)
        if existing is not None:
            # Like TigerBeetle's exists_with_different_flags: a held transfer is not a posted one.
            same = (existing.debit_account, existing.credit_account, existing.asset,
                    existing.amount, existing.created_pending) == (
                debit_account, credit_account, asset, amount, pending)
            if not same:
                raise Conflict(f"transfer {transfer_id} exists with other terms")
            return existing
        open_transfer(self.balances[(debit_account, asset)],
                      self.balances[(credit_account, asset)], amount, pending=pending)
        status = TransferStatus.PENDING if pending else TransferStatus.POSTED
        created = Transfer(transfer_id, debit_account, credit_account, asset, amount, status,
                           created_pending=pending)
        self.transfers[transfer_id] = created
        return created

    def resolve(self, transfer_id: str, target: TransferStatus) -> None:
        t = self.transfers[transfer_id]
        if not resolve_pending(t.status, target):
            return
        debit = self.balances[(t.debit_account, t.asset)]
        credit = self.balances[(t.credit_account, t.asset)]
        if target is TransferStatus.POSTED:
            post_pending(debit, credit, t.amount)
        else:
            void_pending(debit, credit, t.amount)
        t.status = target

    def asset_sum(self, asset: str) -> Decimal:
        with localcontext(MONEY_CONTEXT):
            return sum((posted(b) for (_, a), b in self.balances.items() if a == asset), ZERO)
