"""How token similarities become one name score, and a score a decision (DOMAIN.md §4).

The token similarities are computed elsewhere (rapidfuzz, over a blocking index); this module
only aligns them. Each query token is paired with at most one listed token and vice versa, best
pairs first. The name score is then the larger of:

* the symmetric score: the similarity of the aligned tokens, weighted by token length over
  both names, unmatched tokens counting 0. Token order does not matter, so
  "Dmitry Khoroshev" and "KHOROSHEV, Dmitry" score 1.0.
* the subset score, for a query that leaves out listed tokens (dropped middle names): when
  every token of a query of two or more tokens pairs at `SUBSET_MIN` or better (exactly, when
  two or more listed tokens are left out), and the listed surname (when the list says which it
  is) is among them,
  `SUBSET_BASE + (1 - SUBSET_BASE) x coverage x weakest`, where coverage is the share of the
  listed name's letters that matched. "Dmitry Khoroshev" against "KHOROSHEV, Dmitry
  Yuryevich" covers 15 of 24 letters: 0.80 + 0.20 x 0.625 = 0.925.

A name alone is `match` only when it is decisive: compared whole (every token on both sides
paired, so never by the subset score), and every pair equal after transliteration, or at most
one pair fuzzy beside two or more equal ones. Otherwise it is at most `possible`: "John Smith"
shares two tokens with "SMITH, John Robert" as an ordinary John Smith would, and "Alexis Park"
is one letter from "PARK, Aleksei", so a reviewer or a second attribute decides, not the name.

Optional tokens (legal forms, connectives, particles: app.domain.compliance.names) are matched
if present and never required: a pair with one counts like any pair, an unpaired one counts on
neither side, and it never makes a name decisive on its own. "Haji KHAN" is "Haji" and "KHAN"
against the listed "KHAN, Haji Mohammad", a dropped middle name; "KHAN" alone is one token.

A listed name whose surname is known (the tokens before the comma in "KHOROSHEV, Dmitry") and
that the query pairs with none of them scores `SURNAME_PENALTY` times its symmetric score:
two given names in common do not make the same person.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

SUBSET_BASE = 0.80
SUBSET_MIN = 0.90
SURNAME_PENALTY = 0.85
EXACT = 0.999  # equal after transliteration is 1.0; leave room for float rounding


class Decision(StrEnum):
    CLEAR = "clear"
    POSSIBLE = "possible"  # review
    MATCH = "match"  # blocked

    @property
    def rank(self) -> int:
        return {Decision.CLEAR: 0, Decision.POSSIBLE: 1, Decision.MATCH: 2}[self]


def decide(score: float, match_threshold: float, possible_threshold: float, *,
           decisive: bool = True) -> Decision:
    """`decisive` is false for a name likeness that cannot block alone (NameScore.decisive)."""
    if score >= match_threshold and decisive:
        return Decision.MATCH
    return Decision.POSSIBLE if score >= possible_threshold else Decision.CLEAR


@dataclass(frozen=True, slots=True)
class NameScore:
    score: float
    rule: str  # symmetric | subset
    pairs: tuple[tuple[int, int, float], ...]  # (query index, listed index, similarity)
    complete: bool  # every token on both sides paired
    surname_matched: bool | None  # None when the listed surname is not known
    decisive: bool  # may block on the name alone (see the module's docstring)


def name_score(query_lengths: Sequence[int], listed_lengths: Sequence[int],
               pairs: list[tuple[float, int, int]],
               surname: frozenset[int] = frozenset(), *,
               query_optional: frozenset[int] = frozenset(),
               listed_optional: frozenset[int] = frozenset()) -> NameScore:
    """Score a listed name against a query from token-pair similarities.

    `pairs` holds (similarity, query token index, listed token index) for every pair that
    passed the token cut-off; it is sorted in place. `surname` holds the listed surname's
    token positions, when known; `query_optional` and `listed_optional` the positions of the
    optional tokens on each side.
    """
    pairs.sort(reverse=True)
    used_q: set[int] = set()
    used_l: set[int] = set()
    aligned: list[tuple[int, int, float]] = []
    matched_q = matched_l = 0.0
    weakest = 1.0
    for similarity, qi, li in pairs:
        if qi in used_q or li in used_l:
            continue
        used_q.add(qi)
        used_l.add(li)
        aligned.append((qi, li, similarity))
        matched_q += query_lengths[qi] * similarity
        matched_l += listed_lengths[li] * similarity
        weakest = min(weakest, similarity)
    # an optional token counts only when paired
    counted_q = [i for i in range(len(query_lengths)) if i not in query_optional or i in used_q]
    counted_l = [i for i in range(len(listed_lengths))
                 if i not in listed_optional or i in used_l]
    n_q, n_l = len(counted_q), len(counted_l)
    total_q = sum(query_lengths[i] for i in counted_q)
    total_l = sum(listed_lengths[i] for i in counted_l)
    score = (matched_q + matched_l) / (total_q + total_l) if total_q + total_l else 0.0
    surname_matched = bool(surname & used_l) if surname else None
    if surname_matched is False:
        score *= SURNAME_PENALTY
    complete = len(used_q) == n_q and len(used_l) == n_l
    # a pair of two optional tokens is no evidence that the names are one
    telling = [s for qi, li, s in aligned if qi not in query_optional or li not in listed_optional]
    equal = sum(1 for similarity in telling if similarity >= EXACT)
    fuzzy = len(telling) - equal
    decisive = complete and bool(telling) and (fuzzy == 0 or (equal >= 2 and fuzzy == 1))
    result = NameScore(score, "symmetric", tuple(aligned), complete, surname_matched, decisive)
    # Two or more names left out need every kept name exact: "Albert Mendoza" is one letter
    # from "Alberto" in "ROSALES MENDOZA, Carlos Alberto" as an ordinary Albert Mendoza is.
    if (n_q >= 2 and n_l > n_q and len(used_q) == n_q and weakest >= SUBSET_MIN and telling
            and (n_l - n_q == 1 or weakest >= EXACT) and surname_matched is not False):
        coverage = sum(listed_lengths[i] for i in used_l) / total_l
        subset = SUBSET_BASE + (1 - SUBSET_BASE) * coverage * weakest
        if subset > score:
            return NameScore(subset, "subset", tuple(aligned), False, surname_matched, False)
    return result
