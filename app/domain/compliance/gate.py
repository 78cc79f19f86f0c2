"""The compliance gate's answer for one party (DOMAIN.md §4): clear, review or blocked."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


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
