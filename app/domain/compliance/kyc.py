"""KYC cases (DOMAIN.md §4): one status vocabulary, the allowed moves, the verification score."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from app.domain.errors import GuardFailed, InvalidInput


class KycStatus(StrEnum):
    PENDING = "pending"
    IN_REVIEW = "in_review"
    NEEDS_INFO = "needs_info"
    APPROVED = "approved"
    REJECTED = "rejected"

    @property
    def terminal(self) -> bool:
        return self in (KycStatus.APPROVED, KycStatus.REJECTED)


# approved and rejected are terminal: re-verification opens a new case.
_MOVES: dict[KycStatus, frozenset[KycStatus]] = {
    KycStatus.PENDING: frozenset({KycStatus.IN_REVIEW}),
    KycStatus.IN_REVIEW: frozenset({KycStatus.APPROVED, KycStatus.REJECTED,
                                    KycStatus.NEEDS_INFO}),
    KycStatus.NEEDS_INFO: frozenset({KycStatus.PENDING}),
    KycStatus.APPROVED: frozenset(),
    KycStatus.REJECTED: frozenset(),
}
# A refusal or a request for more information must say why, for the customer and the auditor.
_REASON_REQUIRED = frozenset({KycStatus.REJECTED, KycStatus.NEEDS_INFO})

DOCUMENT_TYPES = frozenset({"passport", "national_id", "driving_licence", "residence_permit"})
# What "data complete" means for the score: everything needed to identify and screen a person.
REQUIRED_FIELDS = ("full_name", "date_of_birth", "nationality", "address", "document_number")
PHOTO_QUALITIES = frozenset({"high", "medium", "low"})


def allowed_moves(current: KycStatus) -> frozenset[KycStatus]:
    return _MOVES[current]


def transition(current: KycStatus, target: KycStatus, reason: str | None) -> KycStatus:
    if target not in _MOVES[current]:
        allowed = ", ".join(sorted(_MOVES[current])) or "none (terminal)"
        raise GuardFailed(f"a KYC case cannot move from {current} to {target}; "
                          f"allowed: {allowed}", code="illegal_kyc_transition")
    if target in _REASON_REQUIRED and not (reason and reason.strip()):
        raise InvalidInput(f"moving to {target} needs a reason", code="reason_required",
                           field="reason")
    return target


@dataclass(frozen=True, slots=True)
class Verification:
    """The inputs of the verification score; none of them is personal data."""

    photo_quality: str
    data_complete: bool
    email_verified: bool
    phone_verified: bool

    @property
    def score(self) -> Decimal:
        """0.5 base, +0.2 high photo quality, +0.2 complete data, +0.05 each for a verified
        email and phone, capped at 1.0 (DOMAIN.md §4, orig.)."""
        total = Decimal("0.5")
        if self.photo_quality == "high":
            total += Decimal("0.2")
        if self.data_complete:
            total += Decimal("0.2")
        if self.email_verified:
            total += Decimal("0.05")
        if self.phone_verified:
            total += Decimal("0.05")
        return min(total, Decimal("1.0"))


def verification(personal_data: Mapping[str, object], *, photo_quality: str,
                 email_verified: bool, phone_verified: bool) -> Verification:
    if photo_quality not in PHOTO_QUALITIES:
        raise InvalidInput(f"photo_quality must be one of {sorted(PHOTO_QUALITIES)}",
                           code="invalid_photo_quality", field="photo_quality")
    def given(name: str) -> bool:
        return bool(str(personal_data.get(name) or "").strip())

    # A contact detail that was not given cannot have been verified.
    return Verification(photo_quality, all(given(name) for name in REQUIRED_FIELDS),
                        email_verified and given("email"), phone_verified and given("phone"))
