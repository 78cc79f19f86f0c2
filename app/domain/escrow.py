"""The escrow state machine of DOMAIN.md §2, with every guard."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from app.domain.errors import GuardFailed, InvalidInput

MAX_APPROVALS = 3


class EscrowStatus(StrEnum):
    CREATED = "created"
    APPROVED = "approved"
    RELEASED = "released"
    REFUNDED = "refunded"

    @property
    def terminal(self) -> bool:
        return self in (EscrowStatus.RELEASED, EscrowStatus.REFUNDED)


def normalise_party(party: str) -> str:
    """Chain addresses compare lower-cased; account names keep their case."""
    text = party.strip()
    return text.lower() if text[:2].lower() == "0x" else text


def check_terms(payer: str, payee: str, arbiter: str | None, amount: Decimal,
                approvals_required: int) -> None:
    if amount <= 0:
        raise InvalidInput("amount must be greater than zero", code="amount_not_positive",
                           field="amount")
    if normalise_party(payer) == normalise_party(payee):
        raise InvalidInput("payer and payee must differ", code="payer_is_payee", field="payee")
    if not 1 <= approvals_required <= MAX_APPROVALS:
        raise InvalidInput("approvals_required must be 1, 2 or 3",
                           code="approvals_out_of_range", field="approvals_required")
    if approvals_required == MAX_APPROVALS and not arbiter:
        raise InvalidInput("3 approvals need an arbiter (payer, payee and arbiter approve)",
                           code="arbiter_required", field="arbiter")
    if arbiter and normalise_party(arbiter) in (normalise_party(payer), normalise_party(payee)):
        raise InvalidInput("the arbiter must be a third party", code="arbiter_is_party",
                           field="arbiter")


@dataclass
class Escrow:
    escrow_id: str
    payer: str
    payee: str
    arbiter: str | None
    amount: Decimal
    asset: str
    approvals_required: int
    release_time: datetime
    status: EscrowStatus = EscrowStatus.CREATED
    approvers: set[str] = field(default_factory=set)

    def parties(self) -> set[str]:
        found = {normalise_party(self.payer), normalise_party(self.payee)}
        if self.arbiter:
            found.add(normalise_party(self.arbiter))
        return found

    def approve(self, approver: str) -> bool:
        """Count an approval once per approver. Returns whether anything changed."""
        who = normalise_party(approver)
        if self.status.terminal:
            return False
        if who not in self.parties():
            raise GuardFailed(f"{approver} is not the payer, payee or arbiter of this escrow",
                              code="approver_not_party")
        if who in self.approvers:
            return False
        self.approvers.add(who)
        if len(self.approvers) >= self.approvals_required:
            self.status = EscrowStatus.APPROVED
        return True

    def release(self, now: datetime) -> bool:
        """Release to the payee. A replay on a released escrow is a no-op, not an error."""
        if self.status is EscrowStatus.RELEASED:
            return False
        if self.status is EscrowStatus.REFUNDED:
            raise GuardFailed("escrow was refunded; it cannot be released", code="escrow_terminal")
        if self.status is not EscrowStatus.APPROVED:
            raise GuardFailed(
                f"escrow has {len(self.approvers)} of {self.approvals_required} approvals",
                code="not_approved",
            )
        if now < self.release_time:
            raise GuardFailed(f"release time {self.release_time.isoformat()} not reached",
                              code="release_time_not_reached")
        self.status = EscrowStatus.RELEASED
        return True

    def refund(self, requested_by: str, now: datetime, grace: timedelta) -> bool:
        """Refund to the payer, only by the payer and only after release time plus the grace."""
        if self.status is EscrowStatus.REFUNDED:
            return False
        if self.status is EscrowStatus.RELEASED:
            raise GuardFailed("escrow was released; it cannot be refunded", code="escrow_terminal")
        if normalise_party(requested_by) != normalise_party(self.payer):
            raise GuardFailed("only the payer can request a refund", code="refund_not_by_payer")
        allowed_from = self.release_time + grace
        if now < allowed_from:
            raise GuardFailed(f"refund allowed from {allowed_from.isoformat()}",
                              code="refund_not_yet_allowed")
        self.status = EscrowStatus.REFUNDED
        return True
