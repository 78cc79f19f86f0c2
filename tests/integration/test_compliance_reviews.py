"""Screening end to end on real PostgreSQL: other scripts, unscreenable names, attributes, the
Consolidated list, and a reviewer's dismissal or confirmation moving the settlement gate."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.config import get_settings
from app.domain.compliance.gate import GateStatus
from app.domain.errors import Conflict
from app.persistence.compliance_models import Screening
from app.persistence.db import unit_of_work
from app.services.compliance import lists, reviews, screening
from app.services.compliance.gate import party_gate
from app.services.compliance.pii import pii_cipher
from app.services.compliance.sanctions_loader import load_directory

pytestmark = pytest.mark.integration
DATA = Path(__file__).resolve().parent.parent / "data"
KHOROSHEV = 48603
QWERTANIAN = 990002  # tests/data/ofac-cons-small


@pytest.fixture(scope="module", autouse=True)
def both_lists(service_env: dict[str, str]) -> None:
    with unit_of_work() as session:
        load_directory(session, DATA / "ofac-sdn-small", rescreen_after=False)
        load_directory(session, DATA / "ofac-cons-small", rescreen_after=False,
                       source=lists.CONSOLIDATED)


def party() -> str:
    return f"reviewed-{uuid.uuid4().hex[:8]}"


def screened(who: str, *names: str, **attributes: Any) -> dict[str, Any]:
    with unit_of_work() as session:
        requested = screening.request_screening(
            session, pii_cipher(get_settings()), party=who, names=list(names), addresses=[],
            attributes=screening.clean_attributes(**attributes))
    with unit_of_work() as session:
        return screening.run_screening(session, requested.screening_id, get_settings(),
                                       datetime.now(UTC))


def gate(who: str) -> GateStatus:
    with unit_of_work() as session:
        return party_gate(session, who, get_settings()).status


def review(screening_id: str, action: str, entry_uid: int | None = None,
           query: str | None = None) -> dict[str, Any]:
    with unit_of_work() as session:
        return reviews.review_hit(session, screening_id, action=action, entry_uid=entry_uid,
                                  query=query, note="passport seen: born 1988, not listed",
                                  reviewer="rita", now=datetime.now(UTC))


def test_a_listed_name_in_cyrillic_is_held_by_the_gate() -> None:
    who = party()
    view = screened(who, "Дмитрий Юрьевич Хорошев")
    [hit] = [h for h in view["hits"] if h["entry_uid"] == KHOROSHEV]
    assert (hit["decision"], hit["list"]) == ("match", lists.SOURCE)
    assert {t["how"] for t in hit["breakdown"]["tokens"]} <= {"exact", "transliteration",
                                                               "fuzzy", "name_variant"}
    assert gate(who) is GateStatus.BLOCKED


def test_a_name_the_screener_cannot_read_is_never_clear() -> None:
    who = party()
    view = screened(who, "!!! ???")
    assert view["decision"] == "possible"
    assert [h["reason"] for h in view["hits"]] == ["unscreenable_name"]
    assert gate(who) is GateStatus.REVIEW
    # a name in Han characters is screened, but a miss on it is not `clear` either
    assert screened(party(), "王小明")["decision"] == "possible"


def test_a_dismissal_clears_the_gate_keeps_history_and_holds_on_rescreen() -> None:
    who = party()
    view = screened(who, "Dmitry Khoroshev")  # the middle name dropped: for review
    assert view["decision"] == "possible" and gate(who) is GateStatus.REVIEW
    done = review(view["screening_id"], "dismiss", KHOROSHEV)
    assert done["screening"]["decision"] == "clear"
    assert (done["action"], done["reviewer"]) == ("dismiss", "rita")
    assert gate(who) is GateStatus.CLEAR
    # the reviewed screening is superseded: it can no longer be reviewed
    with unit_of_work() as session, pytest.raises(Conflict):
        reviews.review_hit(session, view["screening_id"], action="confirm", note="again",
                           reviewer="rita", now=datetime.now(UTC), entry_uid=KHOROSHEV)
    # a later screening of the same names carries the dismissal forward
    again = screened(who, "Dmitry Khoroshev")
    [hit] = [h for h in again["hits"] if h["entry_uid"] == KHOROSHEV]
    assert (hit["decision"], hit["review"]["action"]) == ("clear", "dismiss")
    assert gate(who) is GateStatus.CLEAR
    with unit_of_work() as session:
        history = reviews.reviews_of(session, again["screening_id"])
        assert [(r.action, r.note) for r in history] == [
            ("dismiss", "passport seen: born 1988, not listed")]
        kinds = session.scalars(select(Screening.source).where(Screening.party == who)
                                .order_by(Screening.completed_at)).all()
        assert list(kinds) == ["api", "review", "api"]


def test_a_confirmation_blocks() -> None:
    who = party()
    view = screened(who, "Dmitry Khoroshev")
    review(view["screening_id"], "confirm", KHOROSHEV)
    assert gate(who) is GateStatus.BLOCKED
    assert screened(who, "Dmitry Khoroshev")["decision"] == "match"
    assert gate(who) is GateStatus.BLOCKED


def test_only_a_possible_hit_is_reviewed() -> None:
    view = screened(party(), "KHOROSHEV, Dmitry Yuryevich")
    assert view["decision"] == "match"
    with unit_of_work() as session, pytest.raises(Conflict):
        reviews.review_hit(session, view["screening_id"], action="dismiss", note="no",
                           reviewer="rita", now=datetime.now(UTC), entry_uid=KHOROSHEV)


def test_an_unscreenable_name_can_be_dismissed() -> None:
    who = party()
    view = screened(who, "???")
    review(view["screening_id"], "dismiss", query="name[0]")
    assert gate(who) is GateStatus.CLEAR


def test_the_consolidated_list_loads_and_screens() -> None:
    with unit_of_work() as session:
        sources = [v.source for v in lists.active_versions(session)]
        assert sources == [lists.SOURCE, lists.CONSOLIDATED]
    view = screened(party(), "Bartholomew Ignatius Qwertanian")
    [hit] = view["hits"]
    assert (hit["entry_uid"], hit["list"], hit["decision"]) == (QWERTANIAN, lists.CONSOLIDATED,
                                                                 "match")
    entity = screened(party(), "Zorbalandia Petroleum Trading Co Ltd")
    assert entity["hits"][0]["list"] == lists.CONSOLIDATED
    assert entity["decision"] == "match"


def test_an_address_on_the_consolidated_list_is_blocked_by_the_gate() -> None:
    # ZORBALANDIA's ETH address is on the Consolidated list only, never on the SDN list
    with unit_of_work() as session:
        decision = party_gate(session, "0x00000000000000000000000000000000000C0A5E",
                              get_settings())
    assert (decision.status, decision.codes) == (GateStatus.BLOCKED, ("sanctions_match",))
    assert (decision.reasons[0].refs["entry_uid"], decision.reasons[0].refs["list"]) == (
        990001, lists.CONSOLIDATED)


def test_attributes_confirm_or_contradict_a_name_hit() -> None:
    # born decades from the listed date: the exact name is for review, not blocked
    contradicted = screened(party(), "KHOROSHEV, Dmitry Yuryevich", date_of_birth="1950-01-01")
    [hit] = contradicted["hits"]
    assert (hit["name_decision"], hit["decision"]) == ("match", "possible")
    assert hit["attributes"]["contradicted"] == ["date_of_birth"]
    # the listed year of birth lifts a dropped-middle-name hit to a match
    confirmed = screened(party(), "Dmitry Khoroshev", birth_year=1993, nationality="Russia")
    [hit] = confirmed["hits"]
    assert (hit["name_decision"], hit["decision"]) == ("possible", "match")
    assert set(hit["attributes"]["confirmed"]) == {"date_of_birth", "country"}
    # a company is not this person
    company = screened(party(), "KHOROSHEV, Dmitry Yuryevich", entity_type="entity")
    assert company["decision"] == "possible"
