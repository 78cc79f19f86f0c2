"""app.domain.settlement: the legs of each command type, who is screened, and that a refusal is
decided before anything would be written (both legs of a DVP or neither)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from app.domain.commands import CommandStatus, CommandType
from app.domain.compliance.gate import GateCode, GateDecision, GateReason, GateStatus
from app.domain.errors import InsufficientFunds, InvalidInput
from app.domain.ledger import Balance
from app.domain.settlement import (
    Leg,
    SettlementTerms,
    Verdict,
    apply_legs,
    balance_keys,
    decide,
    legs,
    parties_to_screen,
)

BANK = "external:bank:USD"


def bank(asset: str) -> str:
    return f"external:bank:{asset}"


def terms(kind: CommandType, **changes: object) -> SettlementTerms:
    fields: dict[str, object] = {
        "command_id": "c-1", "type": kind, "status": "received", "reason": None,
        "payer": "alice", "payee": "bob", "asset": "USD", "amount": Decimal("10.00"),
        "counter_asset": None, "counter_amount": None, "deadline": None,
        "workflow_id": None, "escrow_id": None,
    }
    fields.update(changes)
    return SettlementTerms(**fields)  # type: ignore[arg-type]


def test_a_collateral_transfer_is_one_leg_from_payer_to_payee() -> None:
    assert legs(terms(CommandType.COLLATERAL_TRANSFER), bank) == [
        Leg("c-1:payment", "alice", "bob", "USD", Decimal("10.00"))]


def test_a_deposit_comes_from_the_bank_account_and_screens_nobody() -> None:
    deposit = terms(CommandType.DEPOSIT, payer=None)
    moved = legs(deposit, bank)
    assert moved == [Leg("c-1:payment", BANK, "bob", "USD", Decimal("10.00"))]
    assert parties_to_screen(deposit, moved) == ()


def test_a_dvp_adds_the_delivery_leg_back_to_the_payer() -> None:
    dvp = terms(CommandType.DVP, counter_asset="BOND", counter_amount=Decimal("3"))
    moved = legs(dvp, bank)
    assert moved[1] == Leg("c-1:delivery", "bob", "alice", "BOND", Decimal("3"))
    assert parties_to_screen(dvp, moved) == ("alice", "bob")
    assert balance_keys(moved) == [("alice", "BOND"), ("alice", "USD"), ("bob", "BOND"),
                                   ("bob", "USD")]


@pytest.mark.parametrize(("kind", "changes", "code"), [
    (CommandType.COLLATERAL_TRANSFER, {"amount": None}, "incomplete_command"),
    (CommandType.COLLATERAL_TRANSFER, {"payee": None}, "incomplete_command"),
    (CommandType.DVP, {}, "counter_leg_missing"),
])
def test_incomplete_commands_are_refused(kind: CommandType, changes: dict[str, object],
                                         code: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        legs(terms(kind, **changes), bank)
    assert refused.value.code == code


def balances(**posted: tuple[str, str]) -> dict[tuple[str, str], Balance]:
    """account__asset=(credits, debits)"""
    out = {}
    for key, (credits, debits) in posted.items():
        account, asset = key.split("__")
        out[(account, asset)] = Balance(account, asset, credits_posted=Decimal(credits),
                                        debits_posted=Decimal(debits))
    return out


def test_apply_legs_moves_both_legs_of_a_dvp() -> None:
    dvp = terms(CommandType.DVP, counter_asset="BOND", counter_amount=Decimal("3"))
    book = balances(alice__USD=("10", "0"), alice__BOND=("0", "0"),
                    bob__USD=("0", "0"), bob__BOND=("5", "0"))
    apply_legs(book, legs(dvp, bank))
    assert book[("alice", "USD")].debits_posted == Decimal("10")
    assert book[("bob", "USD")].credits_posted == Decimal("10")
    assert book[("bob", "BOND")].debits_posted == Decimal("3")
    assert book[("alice", "BOND")].credits_posted == Decimal("3")


def test_a_dvp_whose_delivery_leg_lacks_funds_is_refused_before_any_write() -> None:
    dvp = terms(CommandType.DVP, counter_asset="BOND", counter_amount=Decimal("3"))
    book = balances(alice__USD=("10", "0"), alice__BOND=("0", "0"),
                    bob__USD=("0", "0"), bob__BOND=("2", "0"))
    with pytest.raises(InsufficientFunds):
        apply_legs(book, legs(dvp, bank))


def test_the_bank_account_may_go_negative_a_customer_may_not() -> None:
    deposit = terms(CommandType.DEPOSIT, payer=None)
    book = {(BANK, "USD"): Balance(BANK, "USD", no_overdraft=False),
            ("bob", "USD"): Balance("bob", "USD")}
    apply_legs(book, legs(deposit, bank))
    assert book[("bob", "USD")].credits_posted == Decimal("10.00")
    transfer = terms(CommandType.COLLATERAL_TRANSFER, payer="carol")
    with pytest.raises(InsufficientFunds):
        apply_legs({("carol", "USD"): Balance("carol", "USD"),
                    ("bob", "USD"): Balance("bob", "USD")}, legs(transfer, bank))


NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def test_the_decision_stamps_each_status_the_command_enters() -> None:
    clear = {"alice": GateDecision("alice"), "bob": GateDecision("bob")}
    settled = decide(terms(CommandType.COLLATERAL_TRANSFER),
                     balances(alice__USD=("50", "0"), bob__USD=("0", "0")), clear, NOW, bank)
    assert settled.verdict is Verdict.SETTLED and settled.terminal
    assert [settled.entered_at(s) for s in CommandStatus] == [None, NOW, NOW, NOW, None]

    failed = decide(terms(CommandType.COLLATERAL_TRANSFER),
                    balances(alice__USD=("5", "0"), bob__USD=("0", "0")), clear, NOW, bank)
    assert failed.verdict is Verdict.FAILED and failed.terminal
    assert failed.entered == ((CommandStatus.FAILED, NOW),)

    review = GateReason(GateCode.KYC_NOT_APPROVED, GateStatus.REVIEW, "no KYC")
    held = decide(terms(CommandType.COLLATERAL_TRANSFER),
                  balances(alice__USD=("50", "0"), bob__USD=("0", "0")),
                  {**clear, "bob": GateDecision("bob", (review,))}, NOW, bank)
    assert held.verdict is Verdict.HELD and not held.terminal and held.entered == ()

    skipped = decide(terms(CommandType.COLLATERAL_TRANSFER, status="settled"), {}, clear, NOW,
                     bank)
    assert skipped.verdict is Verdict.SKIPPED and not skipped.terminal and skipped.entered == ()
