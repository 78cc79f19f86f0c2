"""What a settlement command moves (DOMAIN.md §2): its ledger legs, and whether the balances
allow them. Pure: the service loads and locks the balances, this decides, the service writes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from app.domain import ledger as rules
from app.domain.commands import CommandType
from app.domain.errors import InvalidInput

SETTLEMENT_TYPES = frozenset(
    {CommandType.DVP, CommandType.COLLATERAL_TRANSFER, CommandType.DEPOSIT}
)

BalanceKey = tuple[str, str]  # (account_id, asset)


@dataclass(frozen=True, slots=True)
class SettlementTerms:
    """The stored command, as far as settling it is concerned."""

    command_id: str
    type: CommandType
    status: str
    reason: str | None
    payer: str | None
    payee: str | None
    asset: str | None
    amount: Decimal | None
    counter_asset: str | None
    counter_amount: Decimal | None
    deadline: datetime | None
    workflow_id: str | None
    escrow_id: str | None


@dataclass(frozen=True, slots=True)
class Leg:
    """One posted ledger transfer; its id is the command id and the leg's name."""

    transfer_id: str
    debit_account: str
    credit_account: str
    asset: str
    amount: Decimal


def legs(terms: SettlementTerms, bank_account: Callable[[str], str]) -> list[Leg]:
    """The payment leg (payer → payee; for a deposit, the bank account of the asset → payee)
    and, for a DVP, the delivery leg (counter_amount of counter_asset, payee → payer)."""
    if terms.amount is None or terms.asset is None or terms.payee is None:
        raise InvalidInput("command lacks amount, asset or payee", code="incomplete_command")
    payer = terms.payer or bank_account(terms.asset)
    moved = [Leg(f"{terms.command_id}:payment", payer, terms.payee, terms.asset, terms.amount)]
    if terms.type is CommandType.DVP:
        if terms.counter_amount is None or terms.counter_asset is None:
            raise InvalidInput("a DVP needs counter_asset and counter_amount",
                               code="counter_leg_missing")
        moved.append(Leg(f"{terms.command_id}:delivery", terms.payee, payer,
                         terms.counter_asset, terms.counter_amount))
    return moved


def parties_to_screen(terms: SettlementTerms, moved: list[Leg]) -> tuple[str, ...]:
    """Both parties pass the compliance gate, except for a deposit: it comes from the bank
    account and is screened where the money is used, not where it arrives."""
    if terms.type is CommandType.DEPOSIT:
        return ()
    payment = moved[0]
    return (payment.debit_account, payment.credit_account)


def balance_keys(moved: list[Leg]) -> list[BalanceKey]:
    keys = {(a, leg.asset) for leg in moved for a in (leg.debit_account, leg.credit_account)}
    return sorted(keys)


def apply_legs(balances: Mapping[BalanceKey, rules.BalanceState], moved: list[Leg]) -> None:
    """Apply every leg to the locked balances, or raise before the caller writes any of them
    (both legs of a DVP or neither)."""
    for leg in moved:
        rules.open_transfer(balances[(leg.debit_account, leg.asset)],
                            balances[(leg.credit_account, leg.asset)], leg.amount,
                            pending=False)
