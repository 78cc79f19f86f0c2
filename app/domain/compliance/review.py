"""What a reviewer's decision on a sanctions hit does to that hit (DOMAIN.md §4).

A reviewer looks at a `possible` hit and either dismisses it (not this listed entry) or
confirms it. A confirmation makes the hit `match` (blocked), in this screening and every later
one of the party. A dismissal makes it `clear`, but only while the hit stays `possible`: if a
later screening finds the same entry as a `match` (a new alias, a better name), it blocks and a
reviewer looks again.
"""

from __future__ import annotations

from enum import StrEnum

from app.domain.compliance.matching import Decision


class ReviewAction(StrEnum):
    DISMISS = "dismiss"
    CONFIRM = "confirm"


def decision_after_review(action: str, screened: Decision) -> Decision | None:
    """The hit's decision under the review, or None when the review does not apply to it."""
    if ReviewAction(action) is ReviewAction.CONFIRM:
        return Decision.MATCH
    return Decision.CLEAR if screened is Decision.POSSIBLE else None


def worst(decisions: list[Decision]) -> Decision:
    """A screening's decision: the worst of its hits', `clear` with none."""
    return max(decisions, key=lambda d: d.rank, default=Decision.CLEAR)
