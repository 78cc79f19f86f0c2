"""A reviewer's decision on a `possible` screening hit: dismiss (not this person) or confirm.

    review_hit(session, screening_id, entry_uid=..., action="dismiss", note=..., reviewer=...)

A review is of the party's latest completed screening, one `possible` hit of it. It is stored
as a row of its own (who, when, why: the history, never changed) and takes effect as a new
completed screening of the party with source `review`: the same hits, the reviewed one decided
`clear` (dismissed) or `match` (confirmed), and the screening's decision the worst of them. The
gate reads a party's latest completed screening, so it follows the reviewer with no rule of
its own. Later screenings of the party carry the decision forward for the same listed entry
(hit_reviews.reviewed): a confirmation always, a dismissal while that hit stays `possible`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.compliance.matching import Decision
from app.domain.errors import Conflict, InvalidInput, NotFound
from app.persistence.compliance_models import Screening, ScreeningReview
from app.persistence.models import new_id
from app.persistence.screening_locks import lock_party_screening
from app.services.compliance import hit_reviews
from app.services.compliance import screening as screenings

ACTIONS = ("dismiss", "confirm")


def _find_hit(screening: Screening, entry_uid: int | None, list_source: str | None,
              query: str | None) -> int:
    for i, hit in enumerate(screening.hits or []):
        if entry_uid is None:
            if hit.get("reason") == "unscreenable_name" and hit["query"] == query:
                return i
        elif hit["entry_uid"] == entry_uid and list_source in (None, hit.get("list")):
            return i
    what = f"entry {entry_uid}" if entry_uid is not None else f"unscreenable {query}"
    raise NotFound(f"screening {screening.screening_id} has no hit on {what}",
                   code="hit_not_found")


def _replayed(session: Session, review_id: str, screening_id: str, action: str,
              entry_uid: int | None) -> ScreeningReview | None:
    found = session.get(ScreeningReview, review_id)
    if found is None:
        return None
    if (found.screening_id, found.action, found.entry_uid) != (screening_id, action, entry_uid):
        raise Conflict(f"review {review_id} was already recorded with another body",
                       code="review_id_reused")
    return found


def review_hit(session: Session, screening_id: str, *, action: str, note: str, reviewer: str,
               now: datetime, entry_uid: int | None = None, list_source: str | None = None,
               query: str | None = None, api_key_id: str | None = None,
               review_id: str | None = None) -> dict[str, Any]:
    """Dismiss or confirm one `possible` hit of the party's latest screening (see the module's
    docstring). `entry_uid` names the hit (with `list_source` when two lists hold that uid);
    an unscreenable name is named by its `query` ("name[0]") instead."""
    if action not in ACTIONS:
        raise InvalidInput("action is dismiss or confirm", code="invalid_action", field="action")
    if not note.strip() or not reviewer.strip():
        raise InvalidInput("a review needs a note and a reviewer", code="review_note_missing",
                           field="note")
    if entry_uid is None and query is None:
        raise InvalidInput("name the hit: entry_uid, or query for an unscreenable name",
                           code="hit_not_named", field="entry_uid")
    screening = screenings.get_screening(session, screening_id)
    if review_id is not None and (done := _replayed(session, review_id, screening_id, action,
                                                    entry_uid)) is not None:
        return review_view(done) | {"screening": screenings.screening_view(
            screenings.get_screening(session, done.result_screening_id))}
    # The same lock as a screening of the party: a review and a screening never interleave.
    lock_party_screening(session, screening.party)
    latest = screenings.latest_screening(session, screening.party)
    if latest is None or latest.screening_id != screening_id:
        raise Conflict(f"screening {screening_id} is not the latest completed screening of "
                       f"{screening.party}; review {latest.screening_id if latest else 'that'}",
                       code="screening_superseded")
    position = _find_hit(screening, entry_uid, list_source, query)
    hit = (screening.hits or [])[position]
    if hit["decision"] != Decision.POSSIBLE.value:
        raise Conflict(f"the hit is {hit['decision']}; only a possible hit is reviewed",
                       code="hit_not_reviewable")
    review = ScreeningReview(
        review_id=review_id or new_id(), screening_id=screening_id, party=screening.party,
        list_source=hit.get("list") or "-", entry_uid=hit["entry_uid"],
        query=hit["query"] if hit["entry_uid"] is None else None, action=action,
        note=note.strip(), reviewer=reviewer.strip(), api_key_id=api_key_id,
        result_screening_id=new_id(), decided_at=now)
    hits = list(screening.hits or [])
    hits[position] = hit_reviews.reviewed(hit, review)
    session.add(Screening(
        screening_id=review.result_screening_id, party=screening.party, source="review",
        status="completed", request_hash="-", list_version_id=screening.list_version_id,
        decision=hit_reviews.worst_decision(hits).value, hits=hits,
        screened=(screening.screened or {}) | {"reviewed_screening": screening_id},
        requested_at=now, completed_at=now))
    session.add(review)
    session.flush()
    return review_view(review) | {"screening": screenings.screening_view(
        screenings.get_screening(session, review.result_screening_id))}


def reviews_of(session: Session, screening_id: str) -> list[ScreeningReview]:
    """Every review of the screening's party, oldest first: the party's review history."""
    party = screenings.get_screening(session, screening_id).party
    return list(session.scalars(select(ScreeningReview).where(ScreeningReview.party == party)
                                .order_by(ScreeningReview.decided_at)))


def review_view(review: ScreeningReview) -> dict[str, Any]:
    return {"review_id": review.review_id, "screening_id": review.screening_id,
            "party": review.party, "list": None if review.list_source == "-"
            else review.list_source, "entry_uid": review.entry_uid, "query": review.query,
            "action": review.action, "note": review.note, "reviewer": review.reviewer,
            "api_key_id": review.api_key_id,
            "result_screening_id": review.result_screening_id,
            "decided_at": review.decided_at.isoformat()}
