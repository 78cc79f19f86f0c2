"""How token similarities become one name score, and a score a decision (DOMAIN.md §4).

The token similarities are Jaro-Winkler scores computed elsewhere (rapidfuzz, over a blocking
index); this module only aligns them. Each query token is paired with at most one listed token
and vice versa, best pairs first. The name score is then the larger of:

* the symmetric score: the Jaro-Winkler of the aligned tokens, weighted by token length over
  both names, unmatched tokens counting 0. Token order does not matter, so
  "Dmitry Khoroshev" and "KHOROSHEV, Dmitry" score 1.0.
* the subset score, for a name that differs by exactly one whole token (a dropped or an added
  middle name): when every token of the shorter name (at least two) matches exactly after
  transliteration, `SUBSET_BASE + (1 - SUBSET_BASE) x coverage`, where coverage is the share of
  the longer name's letters that matched. "Dmitry Khoroshev" against "KHOROSHEV, Dmitry
  Yuryevich" covers 15 of 24 letters: 0.80 + 0.20 x 0.625 = 0.925.
Requiring exact tokens for the subset score keeps a dropped token plus a typo (a different
person, more often than not) from being scored as if only the token were missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

SUBSET_BASE = 0.80
EXACT = 0.999  # Jaro-Winkler of equal strings is 1.0; leave room for float rounding


class Decision(StrEnum):
    CLEAR = "clear"
    POSSIBLE = "possible"  # review
    MATCH = "match"  # blocked

    @property
    def rank(self) -> int:
        return {Decision.CLEAR: 0, Decision.POSSIBLE: 1, Decision.MATCH: 2}[self]


def decide(score: float, match_threshold: float, possible_threshold: float) -> Decision:
    if score >= match_threshold:
        return Decision.MATCH
    return Decision.POSSIBLE if score >= possible_threshold else Decision.CLEAR


def name_score(query_lengths: Sequence[int], listed_lengths: Sequence[int],
               pairs: list[tuple[float, int, int]]) -> float:
    """Score a listed name against a query from token-pair similarities.

    `pairs` holds (similarity, query token index, listed token index) for every pair that
    passed the token cut-off; it is sorted in place.
    """
    pairs.sort(reverse=True)
    used_q: set[int] = set()
    used_l: set[int] = set()
    matched_q = matched_l = 0.0
    weakest = 1.0
    for similarity, qi, li in pairs:
        if qi in used_q or li in used_l:
            continue
        used_q.add(qi)
        used_l.add(li)
        matched_q += query_lengths[qi] * similarity
        matched_l += listed_lengths[li] * similarity
        weakest = min(weakest, similarity)
    total_q, total_l = sum(query_lengths), sum(listed_lengths)
    score = (matched_q + matched_l) / (total_q + total_l)
    n_q, n_l = len(query_lengths), len(listed_lengths)
    if weakest < EXACT or abs(n_q - n_l) != 1 or min(n_q, n_l) < 2:
        return score
    if n_q < n_l and len(used_q) == n_q:
        coverage = sum(listed_lengths[i] for i in used_l) / total_l
    elif n_l < n_q and len(used_l) == n_l:
        coverage = sum(query_lengths[i] for i in used_q) / total_q
    else:
        return score
    return max(score, SUBSET_BASE + (1 - SUBSET_BASE) * coverage)
