"""Reviewers' standing decisions on a party's hits, carried into its screenings.

A hit is known across screenings by its list and entry, or, for an unscreenable name, by the
name's position. The party's latest review of each applies to every later screening
(app.domain.compliance.review.decision_after_review says how).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.compliance.matching import Decision
from app.domain.compliance.review import decision_after_review, worst
from app.persistence.compliance_models import ScreeningReview
from app.services.compliance.lists import SOURCE

HitKey = tuple[str | None, int | None, str | None]


def hit_key(hit: dict[str, Any]) -> HitKey:
    """A hit's identity across screenings: its list and entry, or for an unscreenable name
    the name's position."""
    if hit.get("reason") == "unscreenable_name":
        return None, None, hit["query"]
    return hit.get("list", SOURCE), hit["entry_uid"], None


def standing_reviews(session: Session, party: str) -> dict[HitKey, ScreeningReview]:
    """The latest review of each (list, entry) the party's hits were reviewed for."""
    latest: dict[HitKey, ScreeningReview] = {}
    for review in session.scalars(select(ScreeningReview).where(ScreeningReview.party == party)
                                  .order_by(ScreeningReview.decided_at)):
        latest[review_key(review)] = review
    return latest


def review_key(review: ScreeningReview) -> HitKey:
    if review.entry_uid is None:
        return None, None, review.query
    return review.list_source, review.entry_uid, None


def reviewed(hit: dict[str, Any], review: ScreeningReview) -> dict[str, Any]:
    """The hit as the reviewer decided it, with the review named on it."""
    decision = decision_after_review(review.action, Decision(hit["decision"]))
    if decision is None:
        return hit
    return hit | {"decision": decision.value, "screened_decision": hit["decision"],
                  "review": {"review_id": review.review_id, "action": review.action,
                             "reviewer": review.reviewer,
                             "at": review.decided_at.isoformat()}}


def worst_decision(hits: list[dict[str, Any]]) -> Decision:
    return worst([Decision(h["decision"]) for h in hits])
