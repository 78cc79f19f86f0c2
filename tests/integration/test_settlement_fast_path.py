"""The one-statement happy path (settle_if_clear, alembic 0008) against the Python rules.

Every case is built twice, on two sets of fresh accounts in the same state: once settled
with the fast path on, once with it off (the rules alone). The two must end the same way:
outcome and reason, every balance, every transfer, the command row and its outcome event.
And the fast path must take exactly the cases where nothing needs deciding, so that it is
used where it should be and nowhere else.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from app.config import Settings, get_settings
from app.domain.compliance.alerts import AlertKind
from app.persistence.db import unit_of_work
from app.services.compliance import alerts, kyc, screening
from app.services.compliance.pii import pii_cipher
from app.services.compliance.sanctions_loader import load_directory
from tests.integration.conftest import fund

pytestmark = pytest.mark.integration
SMALL = Path(__file__).resolve().parent.parent / "data" / "ofac-sdn-small"
LISTED_ETH = "0x901bb9583b24d97e995513c6778dc6888ab6870e"

GATES = ("none", "kyc_approved", "kyc_rejected", "kyc_in_review", "screened_possible",
         "screened_match", "aml_high")
CLEAR = {False: {"none", "kyc_approved", "kyc_in_review"}, True: {"kyc_approved"}}


@pytest.fixture(scope="module", autouse=True)
def small_list(service_env: dict[str, str]) -> None:
    with unit_of_work() as session:
        load_directory(session, SMALL, rescreen_after=False)


@dataclass(frozen=True)
class Case:
    kind: str  # COLLATERAL_TRANSFER or DVP
    payer_gate: str
    payee_gate: str
    kyc_required: bool
    payer_usd: str | None  # None: no balance at all
    payee_usd: str | None
    payee_btc: str | None  # what the payee holds to deliver in a DVP
    payer_btc: str | None
    amount: str = "10.00"
    counter_amount: str = "0.5"
    deadline_passed: bool = False

    def fast_path_expected(self) -> bool:
        clear = CLEAR[self.kyc_required]
        balances = [self.payer_usd, self.payee_usd]
        if self.kind == "DVP":
            balances += [self.payee_btc, self.payer_btc]
        return (self.payer_gate in clear and self.payee_gate in clear
                and all(b is not None for b in balances) and not self.deadline_passed
                and Decimal(self.payer_usd or 0) >= Decimal(self.amount)
                and (self.kind != "DVP"
                     or Decimal(self.payee_btc or 0) >= Decimal(self.counter_amount)))


def make_gate(who: str, gate: str) -> None:
    cipher, now = pii_cipher(get_settings()), datetime.now(UTC)
    if gate.startswith("kyc_"):
        with unit_of_work() as session:
            case_id = kyc.open_case(session, cipher, party=who, document_type="passport",
                                    personal_data={"full_name": "Grace Hopper"},
                                    photo_quality="high", email_verified=False,
                                    phone_verified=False).case.case_id
        moves = {"kyc_approved": ("in_review", "approved"),
                 "kyc_rejected": ("in_review", "rejected"), "kyc_in_review": ("in_review",)}
        for move in moves[gate]:
            with unit_of_work() as session:
                kyc.transition_case(session, case_id, to=move, reason="reviewed",
                                    reviewer="rita", now=now)
    elif gate.startswith("screened_"):
        name = {"screened_possible": "Artem Lifshitz",
                "screened_match": "LIFSHITS, Artem Mikhaylovich"}[gate]
        with unit_of_work() as session:
            requested = screening.request_screening(session, cipher, party=who, names=[name],
                                                    addresses=[])
        with unit_of_work() as session:
            decided = screening.run_screening(session, requested.screening_id, get_settings(),
                                              now)["decision"]
        assert decided == gate.removeprefix("screened_")
    elif gate == "aml_high":
        with unit_of_work() as session:
            alerts.open_alert(session, dedup_key=f"fast:{who}", kind=AlertKind.AML_CHECK,
                              party=who, level="high", details={})


def build(case: Case) -> tuple[str, dict[str, str]]:
    """Fresh accounts in the case's state and its command, accepted; (command id, roles)."""
    from app.persistence.models import new_id  # noqa: PLC0415
    from app.services import intake  # noqa: PLC0415

    tag = uuid.uuid4().hex[:8]
    roles = {"payer": f"fast-payer-{tag}", "payee": f"fast-payee-{tag}"}
    make_gate(roles["payer"], case.payer_gate)
    make_gate(roles["payee"], case.payee_gate)
    for role, asset, amount in (("payer", "USD", case.payer_usd), ("payee", "USD", case.payee_usd),
                                ("payee", "BTC", case.payee_btc),
                                ("payer", "BTC", case.payer_btc)):
        if amount is None:
            continue
        if Decimal(amount) > 0:
            fund(roles[role], amount, asset)
        else:
            open_empty_balance(roles[role], asset)
    deadline = datetime.now(UTC) + (timedelta(seconds=-1) if case.deadline_passed
                                    else timedelta(hours=1))
    counter = {"counter_asset": "BTC", "counter_amount": case.counter_amount} if (
        case.kind == "DVP") else {}
    with unit_of_work() as session:
        command_id = intake.submit_settlement_command(
            session, get_settings().asset_decimals, command_id=new_id(), type=case.kind,
            workflow_id=f"wf-fast-{tag}", account_ref="ref", payer=roles["payer"],
            payee=roles["payee"], asset="USD", amount=case.amount, deadline=deadline,
            **counter).command_id
    return command_id, roles


def open_empty_balance(account: str, asset: str) -> None:
    from app.persistence import settlement_store  # noqa: PLC0415
    from app.services import ledger  # noqa: PLC0415

    with unit_of_work() as session:
        settlement_store.create_balances(session.connection(),
                                         [(account, asset, *ledger.account_class(account))])


def settle(command_id: str, config: Settings, took: list[bool]) -> tuple[str, str | None]:
    """As the settlement task does it, noting whether the fast path took the command."""
    from app.services import settlement  # noqa: PLC0415
    from tasks.settlement import settle_command  # noqa: PLC0415

    fast_path = settlement.settle_if_clear

    def noted(*args: Any) -> Any:
        outcome = fast_path(*args)
        took.append(outcome is not None)
        return outcome

    with mock.patch.object(settlement, "settle_if_clear", side_effect=noted):
        outcome = settle_command(command_id, datetime.now(UTC), config)
    return outcome.status, outcome.reason


def effects(command_id: str, roles: dict[str, str]) -> dict[str, Any]:
    """What the settlement left, with account names replaced by their roles."""
    from app.persistence.models import (  # noqa: PLC0415
        Command,
        LedgerBalance,
        LedgerTransfer,
        OutboxEvent,
    )

    role_of = {account: role for role, account in roles.items()}
    with unit_of_work() as session:
        command = session.get(Command, command_id)
        assert command is not None
        balances = {
            (role_of[b.account_id], b.asset): (b.debits_posted, b.credits_posted,
                                               b.debits_pending, b.credits_pending)
            for b in session.scalars(select(LedgerBalance).where(
                LedgerBalance.account_id.in_(list(roles.values()))))}
        transfers = sorted(
            (t.transfer_id.removeprefix(command_id), role_of[t.debit_account],
             role_of[t.credit_account], t.asset, t.amount, t.status, t.resolved_at is not None)
            for t in session.scalars(select(LedgerTransfer).where(
                LedgerTransfer.transfer_id.startswith(command_id))))
        events = [(e.event_type, {k: v for k, v in e.payload.items()
                                  if k not in ("command_id", "workflow_id", "occurred_at")},
                   e.topic)
                  for e in session.scalars(select(OutboxEvent).where(
                      OutboxEvent.aggregate_id == command_id,
                      OutboxEvent.event_type != "command.accepted"))]
        walk = (command.status, command.reason,
                *(getattr(command, f) is not None
                  for f in ("validated_at", "settling_at", "settled_at", "failed_at")))
    return {"balances": balances, "transfers": transfers, "events": events, "command": walk}


def check(case: Case) -> None:
    config = get_settings().model_copy(update={"kyc_required_for_settlement": case.kyc_required})
    fast_id, fast_roles = build(case)
    rules_id, rules_roles = build(case)
    took: list[bool] = []
    fast = settle(fast_id, config, took)
    rules_took: list[bool] = []
    rules = settle(rules_id, config.model_copy(update={"settlement_fast_path": False}),
                   rules_took)
    assert fast == rules, case
    assert effects(fast_id, fast_roles) == effects(rules_id, rules_roles), case
    assert took[0] == case.fast_path_expected(), case
    assert len(rules_took) == 1 and not rules_took[0]  # off means off


BALANCES = st.sampled_from([None, "0", "9.99", "10.00", "250.00"])
BTC = st.sampled_from([None, "0", "0.4", "0.5", "3"])


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(kind=st.sampled_from(["COLLATERAL_TRANSFER", "DVP"]),
       payer_gate=st.sampled_from(GATES), payee_gate=st.sampled_from(GATES),
       kyc_required=st.booleans(), payer_usd=BALANCES, payee_usd=BALANCES,
       payee_btc=BTC, payer_btc=BTC, deadline_passed=st.booleans())
def test_the_fast_path_ends_every_case_as_the_rules_do(**fields: Any) -> None:
    check(Case(**fields))


@pytest.mark.parametrize("case", [
    Case("COLLATERAL_TRANSFER", "none", "none", False, "10.00", "0", None, None),
    Case("COLLATERAL_TRANSFER", "kyc_approved", "kyc_approved", True, "250.00", "9.99", None,
         None),
    Case("DVP", "none", "kyc_approved", False, "10.00", "0", "0.5", "0"),
    Case("DVP", "kyc_approved", "kyc_approved", True, "250.00", "0", "3", "3"),
    Case("DVP", "none", "none", False, "250.00", "0", "0.4", "0"),  # the delivery is short
    Case("COLLATERAL_TRANSFER", "none", "aml_high", False, "250.00", "0", None, None),
    Case("COLLATERAL_TRANSFER", "none", "none", False, "250.00", None, None, None),
    Case("COLLATERAL_TRANSFER", "none", "none", False, "250.00", "0", None, None,
         deadline_passed=True),
], ids=["transfer", "transfer-kyc", "dvp", "dvp-kyc", "dvp-short", "held", "first-use",
        "late"])
def test_the_fast_path_takes_what_is_clear_and_leaves_the_rest(case: Case) -> None:
    check(case)


def test_a_listed_payee_is_left_to_the_rules_which_refuse_it() -> None:
    from app.services.intake import submit_settlement_command  # noqa: PLC0415

    payer = f"fast-payer-{uuid.uuid4().hex[:8]}"
    fund(payer, "20.00")
    fund(LISTED_ETH, "1.00")  # its balance exists: only the gate stops the fast path
    with unit_of_work() as session:
        command_id = submit_settlement_command(
            session, get_settings().asset_decimals, command_id=f"fast-{uuid.uuid4().hex}",
            type="COLLATERAL_TRANSFER", workflow_id="wf-fast", account_ref="ref", payer=payer,
            payee=LISTED_ETH, asset="USD", amount="5.00",
            deadline=datetime.now(UTC) + timedelta(hours=1)).command_id
    took: list[bool] = []
    assert settle(command_id, get_settings().model_copy(
        update={"kyc_required_for_settlement": False}), took) == ("failed", "compliance_blocked")
    assert took == [False]
