"""What a settlement command moves (DOMAIN.md §2): its ledger legs, whether the parties and
the balances allow them, and what each command of a batch becomes. Pure: the service loads
and locks the commands, the gate's facts and the balances, this decides, the service writes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from app.domain import ledger as rules
from app.domain.commands import CommandStatus, CommandType, advance, refusal
from app.domain.compliance.gate import GateDecision, require_clear
from app.domain.errors import DomainError, GuardFailed, InvalidInput

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


# A settlement command's transfers are <command id>:<leg>, one per leg it moves.
LEG_NAMES = ("payment", "delivery")


def transfer_id(command_id: str, leg: str) -> str:
    return f"{command_id}:{leg}"


def legs(terms: SettlementTerms, bank_account: Callable[[str], str]) -> list[Leg]:
    """The payment leg (payer → payee; for a deposit, the bank account of the asset → payee)
    and, for a DVP, the delivery leg (counter_amount of counter_asset, payee → payer)."""
    if terms.amount is None or terms.asset is None or terms.payee is None:
        raise InvalidInput("command lacks amount, asset or payee", code="incomplete_command")
    payer = terms.payer or bank_account(terms.asset)
    moved = [Leg(transfer_id(terms.command_id, "payment"), payer, terms.payee, terms.asset,
                 terms.amount)]
    if terms.type is CommandType.DVP:
        if terms.counter_amount is None or terms.counter_asset is None:
            raise InvalidInput("a DVP needs counter_asset and counter_amount",
                               code="counter_leg_missing")
        moved.append(Leg(transfer_id(terms.command_id, "delivery"), terms.payee, payer,
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
    """Apply every leg to the locked balances, or none of them: a refused leg restores what
    the legs before it changed (both legs of a DVP or neither), so that the balances stay
    right for the next command of a batch."""
    touched = [balances[k] for k in balance_keys(moved)]
    before = [(b.debits_posted, b.credits_posted, b.debits_pending, b.credits_pending)
              for b in touched]
    try:
        for leg in moved:
            rules.open_transfer(balances[(leg.debit_account, leg.asset)],
                                balances[(leg.credit_account, leg.asset)], leg.amount,
                                pending=False)
    except DomainError:
        for b, (dp, cp, dq, cq) in zip(touched, before, strict=True):
            b.debits_posted, b.credits_posted, b.debits_pending, b.credits_pending = dp, cp, dq, cq
        raise


class Verdict(StrEnum):
    SETTLED = "settled"
    FAILED = "failed"
    HELD = "held"  # still `received`, with the reason shown; the sweeper offers it again
    SKIPPED = "skipped"  # already terminal: its first outcome stands, nothing is written


@dataclass(frozen=True, slots=True)
class Decision:
    """What one command of a batch becomes. `moved` is empty unless it settled; `event_type`
    names its outcome event (none for a hold or a skip); `entered` is each status the command
    walks into and when (none for a hold or a skip), for its record's timestamps."""

    terms: SettlementTerms
    verdict: Verdict
    status: CommandStatus
    reason: str | None = None
    detail: str | None = None
    moved: tuple[Leg, ...] = ()
    event_type: str | None = None
    shown_on_escrow: bool = False
    entered: tuple[tuple[CommandStatus, datetime], ...] = ()

    @property
    def terminal(self) -> bool:
        """It settles or fails the command here (its record then names who decided it)."""
        return self.verdict in (Verdict.SETTLED, Verdict.FAILED)

    def entered_at(self, status: CommandStatus) -> datetime | None:
        """When this decision moves the command into `status` (None if it does not)."""
        return next((at for s, at in self.entered if s is status), None)


_WALK = (CommandStatus.VALIDATED, CommandStatus.SETTLING, CommandStatus.SETTLED)


def needed_balances(commands: Sequence[SettlementTerms],
                    bank_account: Callable[[str], str]) -> list[BalanceKey]:
    """Every balance the legs of the commands still to decide would move, sorted (a command
    whose legs cannot even be built needs none: it is refused without them)."""
    keys: set[BalanceKey] = set()
    for terms in commands:
        if CommandStatus(terms.status).terminal:
            continue
        try:
            keys.update(balance_keys(legs(terms, bank_account)))
        except DomainError:
            continue
    return sorted(keys)


def decide_batch(commands: Sequence[SettlementTerms],
                 balances: Mapping[BalanceKey, rules.BalanceState],
                 gates: Mapping[str, GateDecision], now: datetime,
                 bank_account: Callable[[str], str]) -> list[Decision]:
    """Decide each command in the order given, on running balances: a later command sees
    what an earlier one moved, and a refusal or hold of one changes nothing for the others.
    `balances` holds at least needed_balances(commands) and is updated in place; `gates`
    holds the gate's decision for every party the commands name."""
    return [decide(terms, balances, gates, now, bank_account) for terms in commands]


def decide(terms: SettlementTerms, balances: Mapping[BalanceKey, rules.BalanceState],
           gates: Mapping[str, GateDecision], now: datetime,
           bank_account: Callable[[str], str]) -> Decision:
    """One command: past its deadline it fails; its parties must pass the compliance gate
    (blocked refuses, review holds); then both legs move, or neither."""
    current = CommandStatus(terms.status)
    if current.terminal:
        return Decision(terms, Verdict.SKIPPED, current, terms.reason)
    try:
        if terms.deadline is not None and now > terms.deadline:
            raise GuardFailed(f"deadline {terms.deadline.isoformat()} passed before settlement",
                              code="deadline_exceeded")
        moved = legs(terms, bank_account)
        parties = parties_to_screen(terms, moved)
        if parties:
            require_clear([gates[p] for p in dict.fromkeys(parties)])
        apply_legs(balances, moved)
    except DomainError as cause:
        refused = refusal(current, cause)
        if refused.event_type is None:
            return Decision(terms, Verdict.HELD, refused.status, refused.reason, refused.detail,
                            shown_on_escrow=refused.shown_on_escrow)
        return Decision(terms, Verdict.FAILED, refused.status, refused.reason, refused.detail,
                        event_type=refused.event_type, shown_on_escrow=refused.shown_on_escrow,
                        entered=((refused.status, now),))
    status, entered = current, []
    for step in _WALK:
        status = advance(status, step)
        entered.append((status, now))
    return Decision(terms, Verdict.SETTLED, status, moved=tuple(moved),
                    event_type="command.settled", entered=tuple(entered))
