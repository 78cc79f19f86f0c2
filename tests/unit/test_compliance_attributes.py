"""Secondary attributes against a listed entry's own, and what a reviewer's decision does."""

from __future__ import annotations

from datetime import date

import pytest

from app.domain.compliance.attributes import (
    EntryFacts,
    Evidence,
    Requested,
    apply,
    compare,
    remark_births,
    remark_nationalities,
)
from app.domain.compliance.matching import Decision
from app.domain.compliance.review import decision_after_review, worst

REMARKS = ("DOB 17 Apr 1993; alt. DOB circa 1990; POB Russian Federation; nationality Russia; "
           "citizen Belarus; Gender Male; DOB 1960 to 1962.")
LISTED = EntryFacts("individual", frozenset({1993, 1990, 1960, 1961, 1962}),
                    frozenset({date(1993, 4, 17)}), frozenset({"ru", "by"}), frozenset({"de"}))


def test_dates_of_birth_and_nationalities_come_from_the_remarks() -> None:
    years, dates = remark_births(REMARKS)
    assert years == {1993, 1990, 1960, 1961, 1962}
    assert dates == {date(1993, 4, 17)}
    assert remark_nationalities(REMARKS) == ["Russia", "Belarus"]
    assert remark_births(None) == (frozenset(), frozenset())
    assert remark_births("DOB 31 Feb 1970") == (frozenset({1970}), frozenset())


@pytest.mark.parametrize(("requested", "confirmed", "contradicted"), [
    (Requested(birth_date=date(1993, 4, 17)), ("date_of_birth",), ()),
    (Requested(birth_year=1961), ("date_of_birth",), ()),
    (Requested(birth_year=1994), (), ()),  # one year off: neither
    (Requested(birth_year=1975), (), ("date_of_birth",)),
    (Requested(country="ru"), ("country",), ()),
    (Requested(country="de"), ("country",), ()),  # an address country confirms
    (Requested(country="fr"), (), ("country",)),
    (Requested(entity_type="individual"), (), ()),  # the same type is no evidence
    (Requested(entity_type="vessel"), (), ("entity_type",)),
    (Requested(birth_year=1993, country="fr"), ("date_of_birth",), ("country",)),
    (Requested(), (), ()),
])
def test_attributes_confirm_or_contradict(requested: Requested, confirmed: tuple[str, ...],
                                          contradicted: tuple[str, ...]) -> None:
    evidence = compare(requested, LISTED)
    assert (evidence.confirmed, evidence.contradicted) == (confirmed, contradicted)


def test_an_entry_that_states_nothing_is_not_contradicted() -> None:
    silent = EntryFacts("entity")
    assert compare(Requested(birth_year=1950, country="fr"), silent) == Evidence()
    # an address abroad is no contradiction without a stated nationality
    abroad = EntryFacts("entity", address_countries=frozenset({"ae"}))
    assert compare(Requested(country="ir"), abroad).contradicted == ()


@pytest.mark.parametrize(("decision", "evidence", "at_match", "expected"), [
    (Decision.MATCH, Evidence(contradicted=("date_of_birth",)), True, Decision.POSSIBLE),
    (Decision.MATCH, Evidence(("country",), ("entity_type",)), True, Decision.POSSIBLE),
    (Decision.POSSIBLE, Evidence(("date_of_birth",)), False, Decision.MATCH),
    (Decision.POSSIBLE, Evidence(("country",)), False, Decision.POSSIBLE),  # too weak alone
    (Decision.POSSIBLE, Evidence(("country",)), True, Decision.MATCH),  # with a strong name
    (Decision.POSSIBLE, Evidence(("date_of_birth",), ("country",)), False, Decision.POSSIBLE),
    (Decision.CLEAR, Evidence(("date_of_birth", "country")), False, Decision.CLEAR),
    (Decision.MATCH, Evidence(), True, Decision.MATCH),
])
def test_the_attribute_rule(decision: Decision, evidence: Evidence, at_match: bool,
                            expected: Decision) -> None:
    assert apply(decision, evidence, name_at_match=at_match) is expected


def test_a_review_confirms_always_and_dismisses_only_a_possible_hit() -> None:
    assert decision_after_review("confirm", Decision.POSSIBLE) is Decision.MATCH
    assert decision_after_review("confirm", Decision.CLEAR) is Decision.MATCH
    assert decision_after_review("dismiss", Decision.POSSIBLE) is Decision.CLEAR
    assert decision_after_review("dismiss", Decision.MATCH) is None  # looked at again
    with pytest.raises(ValueError, match="escalate"):
        decision_after_review("escalate", Decision.POSSIBLE)
    assert worst([Decision.CLEAR, Decision.POSSIBLE]) is Decision.POSSIBLE
    assert worst([]) is Decision.CLEAR
