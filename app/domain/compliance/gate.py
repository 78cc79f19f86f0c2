"""The compliance gate (DOMAIN.md §4): may we act for this party? clear, review or blocked.

blocked: the party id is a crypto address on an active sanctions list; or its latest
         screening decided `match`; or its latest decided KYC case was rejected.
review:  its latest screening decided `possible`; or it has an open (or investigating) high
         AML alert; or, when KYC is required for settlement, its latest decided KYC case is
         not an approved one (none yet counts).
clear:   none of these.

`decide` is the only home of these rules: persistence reads the stored facts about a party
(PartyFacts), services hand them here, and `require_clear` turns decisions into the refusal
(blocked) or hold (review) that settlement and releases apply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from app.domain.compliance.kyc import KycStatus
from app.domain.errors import GuardFailed, Held


class GateStatus(StrEnum):
    CLEAR = "clear"
    REVIEW = "review"
    BLOCKED = "blocked"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {GateStatus.CLEAR: 0, GateStatus.REVIEW: 1, GateStatus.BLOCKED: 2}


class GateCode(StrEnum):
    SANCTIONS_MATCH = "sanctions_match"  # blocked
    KYC_REJECTED = "kyc_rejected"  # blocked
    SANCTIONS_POSSIBLE_MATCH = "sanctions_possible_match"  # review
    AML_HIGH_RISK_ALERT = "aml_high_risk_alert"  # review
    KYC_NOT_APPROVED = "kyc_not_approved"  # review, only when KYC is required for settlement


@dataclass(frozen=True, slots=True)
class GateReason:
    code: GateCode
    status: GateStatus
    detail: str
    refs: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code.value, "status": self.status.value, "detail": self.detail,
                "refs": self.refs}


@dataclass(frozen=True, slots=True)
class GateDecision:
    """The worst status among the reasons; no reason at all is `clear`."""

    party: str
    reasons: tuple[GateReason, ...] = ()

    @property
    def status(self) -> GateStatus:
        return max((r.status for r in self.reasons), key=lambda s: s.rank,
                   default=GateStatus.CLEAR)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(r.code.value for r in self.reasons)

    def summary(self) -> str:
        """One line for a hold reason or a refusal: "blocked: sanctions_match (...)"."""
        if not self.reasons:
            return "clear"
        worst = [r for r in self.reasons if r.status is self.status]
        return f"{self.status}: " + "; ".join(f"{r.code} ({r.detail})" for r in worst)

    def as_dict(self) -> dict[str, Any]:
        return {"party": self.party, "status": self.status.value,
                "reasons": [r.as_dict() for r in self.reasons]}


@dataclass(frozen=True, slots=True)
class PartyFacts:
    """What is stored about a party that the gate decides on: the listed address matching its
    id on any active sanctions list (SDN or Consolidated), its latest completed screening, its
    latest decided KYC case and its open high-risk AML alerts."""

    party: str
    list_version_id: int | None = None
    listed_uid: int | None = None
    listed_currency: str | None = None
    listed_address: str | None = None
    listed_source: str | None = None  # the list that names the address (SDN, Consolidated)
    screening_id: str | None = None
    screening_decision: str | None = None
    screening_hits: tuple[Mapping[str, Any], ...] = ()
    screening_list_version_id: int | None = None
    kyc_case_id: str | None = None
    kyc_status: str | None = None
    aml_alert_ids: tuple[str, ...] = ()


def decide(facts: PartyFacts, *, kyc_required: bool) -> GateDecision:
    """The gate's decision for one party from its stored facts."""
    return GateDecision(facts.party, (*sanctions_reasons(facts),
                                      *_kyc_reasons(facts, kyc_required),
                                      *_aml_reasons(facts)))


def sanctions_reasons(facts: PartyFacts) -> list[GateReason]:
    """The sanctions part of the gate alone: a listed address or the latest screening."""
    reasons = []
    if facts.listed_uid is not None:
        reasons.append(GateReason(
            GateCode.SANCTIONS_MATCH, GateStatus.BLOCKED,
            f"{facts.listed_currency} address {facts.listed_address} is on sanctions list "
            f"{_list_named(facts)}version {facts.list_version_id} (entry {facts.listed_uid})",
            {"entry_uid": facts.listed_uid, "list_version": facts.list_version_id,
             "list": facts.listed_source, "address": facts.listed_address}))
    if facts.screening_decision in ("match", "possible"):
        hits = [h for h in facts.screening_hits if h["decision"] == facts.screening_decision]
        names = ", ".join(f"{h['matched_name']} ({h['entry_uid']}, {h['score']})"
                          for h in hits[:3])
        blocked = facts.screening_decision == "match"
        reasons.append(GateReason(
            GateCode.SANCTIONS_MATCH if blocked else GateCode.SANCTIONS_POSSIBLE_MATCH,
            GateStatus.BLOCKED if blocked else GateStatus.REVIEW,
            f"screening {facts.screening_id} {facts.screening_decision}: {names}",
            {"screening_id": facts.screening_id, "list_version": facts.screening_list_version_id,
             "entry_uids": [h["entry_uid"] for h in hits]}))
    return reasons


def _list_named(facts: PartyFacts) -> str:
    return f"{facts.listed_source} " if facts.listed_source else ""


def _kyc_reasons(facts: PartyFacts, required: bool) -> list[GateReason]:
    decided = facts.kyc_case_id is not None
    if decided and facts.kyc_status == KycStatus.REJECTED.value:
        return [GateReason(GateCode.KYC_REJECTED, GateStatus.BLOCKED,
                           f"KYC case {facts.kyc_case_id} was rejected",
                           {"case_id": facts.kyc_case_id})]
    if required and (not decided or facts.kyc_status != KycStatus.APPROVED.value):
        return [GateReason(GateCode.KYC_NOT_APPROVED, GateStatus.REVIEW,
                           "no approved KYC case, and KYC is required for settlement", {})]
    return []


def _aml_reasons(facts: PartyFacts) -> list[GateReason]:
    if not facts.aml_alert_ids:
        return []
    return [GateReason(GateCode.AML_HIGH_RISK_ALERT, GateStatus.REVIEW,
                       f"{len(facts.aml_alert_ids)} open high-risk AML alert(s)",
                       {"alert_ids": list(facts.aml_alert_ids)})]


def require_clear(decisions: Sequence[GateDecision]) -> None:
    """Raise GuardFailed(compliance_blocked) or Held(compliance_review) unless every party is
    clear; the message names each party's reasons, for the command and the escrow."""
    blocked = [d for d in decisions if d.status is GateStatus.BLOCKED]
    if blocked:
        raise GuardFailed("; ".join(f"{d.party} {d.summary()}" for d in blocked),
                          code="compliance_blocked")
    held = [d for d in decisions if d.status is GateStatus.REVIEW]
    if held:
        raise Held("; ".join(f"{d.party} {d.summary()}" for d in held),
                   code="compliance_review")
