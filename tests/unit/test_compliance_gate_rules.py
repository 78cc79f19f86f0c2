"""Every rule of the compliance gate (DOMAIN.md §4) on facts alone, no services."""

from __future__ import annotations

from typing import Any

import pytest

from app.domain.compliance.gate import (
    GateCode,
    GateStatus,
    PartyFacts,
    decide,
    require_clear,
    sanctions_reasons,
)
from app.domain.errors import GuardFailed, Held

APPROVED = {"kyc_case_id": "case-1", "kyc_status": "approved"}


def facts(**fields: Any) -> PartyFacts:
    return PartyFacts(party="acct-1", **fields)


def hit(decision: str, name: str = "IVAN PETROV", uid: int = 7) -> dict[str, Any]:
    return {"decision": decision, "matched_name": name, "entry_uid": uid, "score": 0.97}


def test_no_facts_and_no_kyc_requirement_is_clear() -> None:
    decision = decide(facts(), kyc_required=False)
    assert (decision.status, decision.reasons) == (GateStatus.CLEAR, ())


def test_an_address_on_the_active_list_is_blocked() -> None:
    decision = decide(facts(listed_uid=12, listed_currency="ETH", listed_address="0xabc",
                            list_version_id=3, **APPROVED), kyc_required=True)
    assert decision.status is GateStatus.BLOCKED
    assert decision.codes == ("sanctions_match",)
    assert decision.reasons[0].refs == {"entry_uid": 12, "list_version": 3, "list": None,
                                        "address": "0xabc"}


def test_an_address_on_any_active_list_names_its_list() -> None:
    decision = decide(facts(listed_uid=12, listed_currency="ETH", listed_address="0xabc",
                            listed_source="OFAC-CONS", list_version_id=4), kyc_required=False)
    assert decision.status is GateStatus.BLOCKED
    assert decision.reasons[0].refs["list"] == "OFAC-CONS"
    assert "sanctions list OFAC-CONS version 4" in decision.reasons[0].detail


def test_a_screening_match_is_blocked_and_names_the_matched_entries() -> None:
    decision = decide(facts(screening_id="s-1", screening_decision="match",
                            screening_hits=(hit("match"), hit("possible", "OTHER", 8)),
                            screening_list_version_id=3), kyc_required=False)
    assert decision.status is GateStatus.BLOCKED
    (reason,) = decision.reasons
    assert reason.code is GateCode.SANCTIONS_MATCH
    assert reason.refs["entry_uids"] == [7]  # only the hits of the decision itself
    assert "IVAN PETROV" in reason.detail and "OTHER" not in reason.detail


def test_a_possible_screening_match_is_review() -> None:
    decision = decide(facts(screening_id="s-1", screening_decision="possible",
                            screening_hits=(hit("possible"),)), kyc_required=False)
    assert (decision.status, decision.codes) == (GateStatus.REVIEW,
                                                 ("sanctions_possible_match",))


def test_a_clean_screening_adds_nothing() -> None:
    assert decide(facts(screening_id="s-1", screening_decision="no_match"),
                  kyc_required=False).status is GateStatus.CLEAR


def test_a_rejected_kyc_case_is_blocked_whether_or_not_kyc_is_required() -> None:
    for required in (False, True):
        decision = decide(facts(kyc_case_id="case-9", kyc_status="rejected"),
                          kyc_required=required)
        assert (decision.status, decision.codes) == (GateStatus.BLOCKED, ("kyc_rejected",))
        assert decision.reasons[0].refs == {"case_id": "case-9"}


@pytest.mark.parametrize("kyc", [{}, {"kyc_case_id": "case-2", "kyc_status": "needs_info"}])
def test_without_an_approved_case_kyc_required_is_review(kyc: dict[str, Any]) -> None:
    assert decide(facts(**kyc), kyc_required=True).codes == ("kyc_not_approved",)
    assert decide(facts(**kyc), kyc_required=True).status is GateStatus.REVIEW
    assert decide(facts(**kyc), kyc_required=False).status is GateStatus.CLEAR


def test_an_approved_case_satisfies_the_kyc_requirement() -> None:
    assert decide(facts(**APPROVED), kyc_required=True).status is GateStatus.CLEAR


def test_an_open_high_aml_alert_is_review() -> None:
    decision = decide(facts(aml_alert_ids=("a-1", "a-2"), **APPROVED), kyc_required=True)
    assert (decision.status, decision.codes) == (GateStatus.REVIEW, ("aml_high_risk_alert",))
    assert decision.reasons[0].refs == {"alert_ids": ["a-1", "a-2"]}


def test_the_worst_reason_wins_and_every_reason_is_kept() -> None:
    decision = decide(facts(aml_alert_ids=("a-1",), kyc_case_id="c", kyc_status="rejected"),
                      kyc_required=True)
    assert decision.status is GateStatus.BLOCKED
    assert decision.codes == ("kyc_rejected", "aml_high_risk_alert")
    assert decision.summary().startswith("blocked: kyc_rejected")


def test_sanctions_reasons_are_the_sanctions_part_alone() -> None:
    reasons = sanctions_reasons(facts(kyc_case_id="c", kyc_status="rejected",
                                      screening_decision="possible", screening_id="s",
                                      screening_hits=(hit("possible"),)))
    assert [r.code for r in reasons] == [GateCode.SANCTIONS_POSSIBLE_MATCH]


def test_require_clear_refuses_blocked_before_holding_review() -> None:
    blocked = decide(facts(kyc_case_id="c", kyc_status="rejected"), kyc_required=False)
    review = decide(PartyFacts(party="acct-2", aml_alert_ids=("a",)), kyc_required=False)
    clear = decide(PartyFacts(party="acct-3"), kyc_required=False)
    require_clear([clear, clear])
    with pytest.raises(GuardFailed) as refused:
        require_clear([review, blocked])
    assert refused.value.code == "compliance_blocked"
    assert refused.value.message.startswith("acct-1 blocked: kyc_rejected")
    with pytest.raises(Held) as held:
        require_clear([clear, review])
    assert held.value.code == "compliance_review"
    assert "acct-2 review: aml_high_risk_alert" in held.value.message
