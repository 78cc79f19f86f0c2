"""Screening against the 17-entry list: the index, the name score and the decisions."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.domain.compliance.matching import (
    SUBSET_BASE,
    SURNAME_PENALTY,
    Decision,
    decide,
    name_score,
)
from app.domain.compliance.sdn import parse
from app.services.compliance.screening_index import ListedAddress, ListedName, ScreeningIndex

SMALL = Path(__file__).resolve().parent.parent / "data" / "ofac-sdn-small"
MATCH, POSSIBLE = 0.92, 0.85


@pytest.fixture(scope="module")
def index() -> ScreeningIndex:
    parsed = parse(*((SMALL / f).read_text(encoding="utf-8")
                     for f in ("sdn.csv", "alt.csv", "add.csv")))
    return ScreeningIndex(
        [ListedName(e.uid, n) for e in parsed.entries.values()
         for n in (e.name, *(a.name for a in e.aliases))],
        [ListedAddress(e.uid, a.currency, a.address) for e in parsed.entries.values()
         for a in e.crypto_addresses])


def best(index: ScreeningIndex, name: str) -> tuple[int, float, Decision] | None:
    hits = index.screen_name(name, floor=POSSIBLE)
    if not hits:
        return None
    return hits[0].uid, hits[0].score, decide(hits[0].score, MATCH, POSSIBLE,
                                              decisive=hits[0].decisive)


@pytest.mark.parametrize(("query", "uid"), [
    ("KHOROSHEV, Dmitry Yuryevich", 48603),  # exact
    ("Dmitry Yuryevich Khoroshev", 48603),  # reordered
    ("Dmitriy Yurevich Khoroshev", 48603),  # alias (alt.csv)
    ("LockBitSupp", 48603),  # alias from the remarks
    ("Dmitrii Yurievich Horoshev", 48603),  # transliteration
    ("Daniel Moreno", 15102),
    ("Burton Burgess", 10278),  # remark alias of LOGAN MOREY
    ("Iran Aircraft Manufacturing Industrial Co.", 11195),  # legal form spelled differently
    ("Gadafi International Charity and Development Foundation", 12685),  # typo
    ("Tasca", 52327),  # a vessel
])
def test_listed_names_match(index: ScreeningIndex, query: str, uid: int) -> None:
    assert best(index, query) is not None
    found_uid, _, decision = best(index, query)  # type: ignore[misc]
    assert (found_uid, decision) == (uid, Decision.MATCH)


@pytest.mark.parametrize(("query", "uid"), [
    ("Dmitry Khoroshev", 48603),  # the example: reordered, middle name dropped
    ("Artyom Mikhailovich Lifshits", 29702),  # transliteration
    ("Artem Lifshitz", 29702),  # dropped middle name and a variant spelling: review
    ("Dialog Regions", 50544),
])
def test_variants_are_found_at_least_for_review(index: ScreeningIndex, query: str,
                                                uid: int) -> None:
    found = best(index, query)
    assert found is not None and found[0] == uid
    assert found[2] in (Decision.MATCH, Decision.POSSIBLE)


@pytest.mark.parametrize("query", [
    "John Smith", "Maria Garcia", "Wei Zhang", "Anna Schmidt", "Acme Trading Ltd",
    "Dmitry", "Khoroshev", "Daniel", "Mohammed Ali",
])
def test_common_unlisted_names_and_lone_tokens_stay_clear(index: ScreeningIndex,
                                                           query: str) -> None:
    assert best(index, query) is None


def test_addresses_match_exactly_and_case_insensitively(index: ScreeningIndex) -> None:
    [hit] = index.screen_address("0X901BB9583B24D97E995513C6778DC6888AB6870E")
    assert (hit.uid, hit.currency) == (29702, "ETH")
    assert index.screen_address("bc1qvhnfknw852ephxyc5hm4q520zmvf9maphetc9z")[0].uid == 48603
    assert index.screen_address("0x901bb9583b24d97e995513c6778dc6888ab6870") == []


def test_the_symmetric_score_weights_tokens_by_length() -> None:
    # "dmitry khoroshev" against itself in another order: every token exact.
    assert name_score([6, 9], [9, 6], [(1.0, 0, 1), (1.0, 1, 0)]).score == 1.0
    # one of two equally long tokens at 0.9, the other exact
    assert name_score([5, 5], [5, 5], [(1.0, 0, 0), (0.9, 1, 1)]).score == pytest.approx(0.95)
    # each token pairs once: two query tokens cannot both use one listed token
    assert name_score([3, 3], [3], [(1.0, 0, 0), (1.0, 1, 0)]).score == pytest.approx(
        (3 + 3) / 9)


def test_the_subset_score_tolerates_dropped_names_and_near_spellings() -> None:
    exact = name_score([6, 9], [9, 6, 9], [(1.0, 0, 1), (1.0, 1, 0)])
    assert exact.rule == "subset"
    assert exact.score == pytest.approx(SUBSET_BASE + (1 - SUBSET_BASE) * 15 / 24)
    # a typo beside the dropped middle name: still for review (the 0.94 recall)
    with_typo = name_score([6, 9], [9, 6, 9], [(0.95, 0, 1), (1.0, 1, 0)])
    assert with_typo.score >= POSSIBLE
    # two given names dropped: still for review, when the names kept are exact
    two_missing = name_score([6, 9], [9, 6, 9, 5], [(1.0, 0, 1), (1.0, 1, 0)])
    assert two_missing.score >= POSSIBLE
    two_and_a_typo = name_score([6, 9], [9, 6, 9, 5], [(0.95, 0, 1), (1.0, 1, 0)])
    assert two_and_a_typo.rule == "symmetric" and two_and_a_typo.score < POSSIBLE
    # a dropped name never blocks alone
    assert not (exact.decisive or with_typo.decisive or two_missing.decisive)
    assert decide(exact.score, MATCH, POSSIBLE, decisive=exact.decisive) is Decision.POSSIBLE


def test_a_missing_surname_is_penalised_and_gets_no_subset_score() -> None:
    # "Dmitry Yuryevich" against "KHOROSHEV, Dmitry Yuryevich": the surname is position 0
    scored = name_score([6, 9], [9, 6, 9], [(1.0, 0, 1), (1.0, 1, 2)], frozenset({0}))
    assert scored.rule == "symmetric" and scored.surname_matched is False
    assert scored.score == pytest.approx(SURNAME_PENALTY * 30 / 39)
    assert scored.score < POSSIBLE
    # with the surname, the dropped given name is a subset match
    kept = name_score([6, 9], [9, 6, 9], [(1.0, 0, 1), (1.0, 1, 0)], frozenset({0}))
    assert kept.rule == "subset" and kept.surname_matched is True


@pytest.mark.parametrize(("pairs", "decisive"), [
    ([(1.0, 0, 0), (1.0, 1, 1)], True),  # every token equal
    ([(1.0, 0, 0), (0.92, 1, 1)], False),  # two tokens, one of them a near spelling
    ([(1.0, 0, 0), (1.0, 1, 1), (0.92, 2, 2)], True),  # one near spelling beside two equal
    ([(1.0, 0, 0), (0.93, 1, 1), (0.92, 2, 2)], False),
])
def test_a_name_blocks_alone_only_when_decisive(pairs: list[tuple[float, int, int]],
                                                decisive: bool) -> None:
    lengths = [6] * len(pairs)
    assert name_score(lengths, lengths, pairs).decisive is decisive


def test_decisions_at_the_thresholds() -> None:
    assert decide(0.92, MATCH, POSSIBLE) is Decision.MATCH
    assert decide(0.9199, MATCH, POSSIBLE) is Decision.POSSIBLE
    assert decide(0.85, MATCH, POSSIBLE) is Decision.POSSIBLE
    assert decide(0.8499, MATCH, POSSIBLE) is Decision.CLEAR
