"""What compliance officers have waiting: possible matches, KYC cases by status, AML alerts."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.persistence.compliance_models import KycCase, Screening

KYC_STATUSES = ("pending", "in_review", "needs_info", "approved", "rejected")


def possible_matches(session: Session, limit: int = 50) -> list[Screening]:
    """Screenings that ended `possible`: a person decides those."""
    return list(session.scalars(select(Screening).where(Screening.decision == "possible")
                                .order_by(Screening.completed_at.desc()).limit(limit)))


def kyc_counts(session: Session) -> dict[str, int]:
    counts = dict.fromkeys(KYC_STATUSES, 0)
    for status, count in session.execute(select(KycCase.status, func.count())
                                         .group_by(KycCase.status)):
        counts[status] = count
    return counts
