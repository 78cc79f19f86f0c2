"""KYC case moves, the verification score, the alert workflow and the gate decision type."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.domain.compliance import alerts, kyc
from app.domain.compliance.alerts import AlertStatus
from app.domain.compliance.gate import GateCode, GateDecision, GateReason, GateStatus
from app.domain.compliance.kyc import KycStatus
from app.domain.errors import GuardFailed, InvalidInput

ALLOWED = [
    (KycStatus.PENDING, KycStatus.IN_REVIEW),
    (KycStatus.IN_REVIEW, KycStatus.APPROVED),
    (KycStatus.IN_REVIEW, KycStatus.REJECTED),
    (KycStatus.IN_REVIEW, KycStatus.NEEDS_INFO),
    (KycStatus.NEEDS_INFO, KycStatus.PENDING),
]


@pytest.mark.parametrize(("current", "target"), ALLOWED)
def test_allowed_kyc_moves(current: KycStatus, target: KycStatus) -> None:
    assert kyc.transition(current, target, "because") is target


@pytest.mark.parametrize(("current", "target"), [
    (c, t) for c in KycStatus for t in KycStatus if (c, t) not in ALLOWED])
def test_every_other_kyc_move_is_refused(current: KycStatus, target: KycStatus) -> None:
    with pytest.raises(GuardFailed) as refused:
        kyc.transition(current, target, "because")
    assert refused.value.code == "illegal_kyc_transition"


def test_approved_and_rejected_are_terminal() -> None:
    assert KycStatus.APPROVED.terminal and KycStatus.REJECTED.terminal
    assert not kyc.allowed_moves(KycStatus.APPROVED)
    assert not kyc.allowed_moves(KycStatus.REJECTED)


@pytest.mark.parametrize("target", [KycStatus.REJECTED, KycStatus.NEEDS_INFO])
def test_rejecting_or_asking_for_information_needs_a_reason(target: KycStatus) -> None:
    with pytest.raises(InvalidInput) as refused:
        kyc.transition(KycStatus.IN_REVIEW, target, "  ")
    assert refused.value.code == "reason_required"


FULL = {"full_name": "Ada Lovelace", "date_of_birth": "1815-12-10", "nationality": "GB",
        "address": "St James's Square, London", "document_number": "X123",
        "email": "ada@example.org", "phone": "+44 20 0000 0000"}


@pytest.mark.parametrize(("data", "photo", "email", "phone", "score"), [
    ({"full_name": "Ada"}, "low", False, False, "0.5"),
    ({"full_name": "Ada"}, "high", False, False, "0.7"),
    (FULL, "medium", False, False, "0.7"),
    (FULL, "high", True, False, "0.95"),
    (FULL, "high", True, True, "1.0"),
    # a contact detail that was not given cannot count as verified
    ({"full_name": "Ada"}, "low", True, True, "0.5"),
])
def test_verification_score(data: dict[str, str], photo: str, email: bool, phone: bool,
                            score: str) -> None:
    found = kyc.verification(data, photo_quality=photo, email_verified=email,
                             phone_verified=phone)
    assert found.score == Decimal(score)
    assert found.score <= Decimal("1.0")


def test_unknown_photo_quality_is_refused() -> None:
    with pytest.raises(InvalidInput):
        kyc.verification(FULL, photo_quality="great", email_verified=False, phone_verified=False)


def test_alert_workflow() -> None:
    assert alerts.transition(AlertStatus.OPEN, AlertStatus.INVESTIGATING, None) is (
        AlertStatus.INVESTIGATING)
    for closed in (AlertStatus.RESOLVED, AlertStatus.FALSE_POSITIVE):
        assert alerts.transition(AlertStatus.INVESTIGATING, closed, "checked") is closed
        with pytest.raises(GuardFailed):
            alerts.transition(closed, AlertStatus.OPEN, "reopen")
    with pytest.raises(GuardFailed):
        alerts.transition(AlertStatus.OPEN, AlertStatus.RESOLVED, "skipping investigation")
    with pytest.raises(InvalidInput):
        alerts.transition(AlertStatus.INVESTIGATING, AlertStatus.RESOLVED, "")


def test_the_gate_decision_is_its_worst_reason() -> None:
    assert GateDecision("p").status is GateStatus.CLEAR
    review = GateReason(GateCode.KYC_NOT_APPROVED, GateStatus.REVIEW, "no KYC")
    blocked = GateReason(GateCode.SANCTIONS_MATCH, GateStatus.BLOCKED, "listed")
    decision = GateDecision("p", (review, blocked))
    assert decision.status is GateStatus.BLOCKED
    assert decision.codes == ("kyc_not_approved", "sanctions_match")
    assert decision.summary() == "blocked: sanctions_match (listed)"
    assert decision.as_dict()["status"] == "blocked"
    assert GateDecision("p", (review,)).status is GateStatus.REVIEW
