"""The settlement gate: clear, review or blocked, with reasons (DOMAIN.md §4)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from app.config import Settings, get_settings
from app.domain.compliance.alerts import AlertKind
from app.domain.compliance.gate import GateDecision, GateStatus
from app.domain.errors import Conflict
from app.persistence.compliance_models import KycCase
from app.persistence.db import unit_of_work
from app.services.compliance import alerts, kyc, screening
from app.services.compliance.gate import party_gate
from app.services.compliance.pii import pii_cipher
from app.services.compliance.sanctions_loader import load_directory

pytestmark = pytest.mark.integration
SMALL = Path(__file__).resolve().parent.parent / "data" / "ofac-sdn-small"
LISTED_ETH = "0x901bb9583b24d97e995513c6778dc6888ab6870e"


@pytest.fixture(scope="module", autouse=True)
def small_list(service_env: dict[str, str]) -> None:
    with unit_of_work() as session:
        load_directory(session, SMALL, rescreen_after=False)


def settings(kyc_required: bool) -> Settings:
    return get_settings().model_copy(update={"kyc_required_for_settlement": kyc_required})


def gate(who: str, kyc_required: bool = False) -> GateDecision:
    with unit_of_work() as session:
        return party_gate(session, who, settings(kyc_required))


def party() -> str:
    return f"gated-{uuid.uuid4().hex[:8]}"


def kyc_case(who: str, *moves: str) -> str:
    cipher, now = pii_cipher(get_settings()), datetime.now(UTC)
    with unit_of_work() as session:
        case_id = kyc.open_case(session, cipher, party=who, document_type="passport",
                                personal_data={"full_name": "Grace Hopper"},
                                photo_quality="high", email_verified=False,
                                phone_verified=False).case.case_id
    for move in moves:
        with unit_of_work() as session:
            kyc.transition_case(session, case_id, to=move, reason="reviewed", reviewer="rita",
                                now=now)
    return case_id


def screened(who: str, name: str) -> str | None:
    with unit_of_work() as session:
        requested = screening.request_screening(session, pii_cipher(get_settings()), party=who,
                                                names=[name], addresses=[])
    with unit_of_work() as session:
        return screening.run_screening(session, requested.screening_id, get_settings(),
                                       datetime.now(UTC))["decision"]


def test_an_unknown_party_is_clear_unless_kyc_is_required() -> None:
    who = party()
    assert gate(who).status is GateStatus.CLEAR
    required = gate(who, kyc_required=True)
    assert (required.status, required.codes) == (GateStatus.REVIEW, ("kyc_not_approved",))
    assert "KYC" in required.summary()


def test_kyc_approved_rejected_and_reverified() -> None:
    who = party()
    kyc_case(who, "in_review")
    assert gate(who, kyc_required=True).codes == ("kyc_not_approved",)
    with unit_of_work() as session:
        case_id = session.scalars(select(KycCase.case_id).where(KycCase.party == who)).one()
        kyc.transition_case(session, case_id, to="approved", reason=None, reviewer="rita",
                            now=datetime.now(UTC))
    assert gate(who, kyc_required=True).status is GateStatus.CLEAR
    kyc_case(who, "in_review", "rejected")  # re-verification, rejected: the latest decides
    rejected = gate(who)
    assert (rejected.status, rejected.codes) == (GateStatus.BLOCKED, ("kyc_rejected",))


def test_one_open_kyc_case_per_party() -> None:
    who = party()
    kyc_case(who)
    with pytest.raises(Conflict) as refused:
        kyc_case(who)
    assert refused.value.code == "kyc_case_open"


def test_a_listed_address_is_blocked_without_any_screening() -> None:
    decision = gate(LISTED_ETH.upper().replace("0X", "0x"))
    assert (decision.status, decision.codes) == (GateStatus.BLOCKED, ("sanctions_match",))
    assert decision.reasons[0].refs["entry_uid"] == 29702


def test_screening_decisions_hold_the_party() -> None:
    possible, match = party(), party()
    assert screened(possible, "Artem Lifshitz") == "possible"
    decision = gate(possible)
    assert (decision.status, decision.codes) == (GateStatus.REVIEW,
                                                 ("sanctions_possible_match",))
    assert decision.reasons[0].refs["entry_uids"] == [29702]
    assert screened(match, "LIFSHITS, Artem Mikhaylovich") == "match"
    assert gate(match).status is GateStatus.BLOCKED


def test_an_open_high_aml_alert_means_review_until_closed() -> None:
    who, now = party(), datetime.now(UTC)
    with unit_of_work() as session:
        medium = alerts.open_alert(session, dedup_key=f"test:{who}:m", kind=AlertKind.AML_CHECK,
                                   party=who, level="medium", details={})
    assert gate(who).status is GateStatus.CLEAR  # medium alerts do not hold settlement
    with unit_of_work() as session:
        high = alerts.open_alert(session, dedup_key=f"test:{who}:h", kind=AlertKind.AML_CHECK,
                                 party=who, level="high", details={})
    decision = gate(who)
    assert (decision.status, decision.codes) == (GateStatus.REVIEW, ("aml_high_risk_alert",))
    assert decision.reasons[0].refs["alert_ids"] == [high]
    for move, reason in (("investigating", None), ("resolved", "documented source of funds")):
        with unit_of_work() as session:
            alerts.transition_alert(session, high, to=move, reason=reason, reviewer="rita",
                                    now=now)
    assert gate(who).status is GateStatus.CLEAR
    assert medium != high


def test_a_chain_fact_on_a_held_party_raises_one_alert() -> None:
    held, clear = gate(LISTED_ETH), gate(party())
    with unit_of_work() as session:
        first = alerts.raise_chain_fact_alert(session, party=LISTED_ETH, decision=held,
                                              fact_key="1:0xabc:7", details={"event": "x"})
        again = alerts.raise_chain_fact_alert(session, party=LISTED_ETH, decision=held,
                                              fact_key="1:0xabc:7", details={"event": "x"})
        none = alerts.raise_chain_fact_alert(session, party=clear.party, decision=clear,
                                             fact_key="1:0xabc:7", details={})
    assert first is not None and first == again and none is None
    with unit_of_work() as session:
        alert = alerts.get_alert(session, first)
        assert (alert.kind, alert.level, alert.status) == ("chain_fact", "high", "open")
    # Chain-fact alerts are for humans; they do not feed back into the gate.
    assert gate(LISTED_ETH).codes == ("sanctions_match",)


def test_facts_fetched_with_a_command_decide_as_asking_about_its_parties() -> None:
    from app.domain.compliance.gate import decide  # noqa: PLC0415
    from app.persistence.db import run_together  # noqa: PLC0415
    from app.persistence.gate_store import facts_from, facts_of_commands  # noqa: PLC0415
    from app.persistence.models import new_id  # noqa: PLC0415
    from app.services import intake  # noqa: PLC0415
    from app.services.compliance.gate import party_gates  # noqa: PLC0415
    from app.services.compliance.lists import SOURCE  # noqa: PLC0415

    rejected, clean = party(), party()
    kyc_case(rejected, "in_review", "rejected")
    with unit_of_work() as session:
        command_id = intake.submit_settlement_command(
            session, get_settings().asset_decimals, command_id=new_id(),
            type="COLLATERAL_TRANSFER", workflow_id="wf-gate", account_ref="ref",
            payer=rejected, payee=clean, asset="USD", amount="1.00",
            deadline=datetime.now(UTC) + timedelta(hours=1)).command_id
    for required in (False, True):
        with unit_of_work() as session:
            (rows,) = run_together(session.connection(), [
                facts_of_commands([command_id], sanctions_source=SOURCE)])
            asked = party_gates(session, [rejected, clean], settings(required))
        prefetched = {f.party: decide(f, kyc_required=required) for f in facts_from(rows)}
        # facts about exactly the command's parties, no other
        assert set(prefetched) == {rejected, clean}
        assert [prefetched[rejected], prefetched[clean]] == asked
        assert [d.status for d in asked] == [GateStatus.BLOCKED,
                                            GateStatus.REVIEW if required else GateStatus.CLEAR]
