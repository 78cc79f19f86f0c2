"""Screening on a real worker against the small list: names, aliases, reordered tokens,
transliterations, crypto addresses; common names clear; new hits published once."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.config import get_settings
from app.domain.errors import Conflict
from app.persistence.compliance_models import Screening, ScreeningSubject
from app.persistence.db import unit_of_work
from app.persistence.models import OutboxEvent
from app.services.compliance import screening
from app.services.compliance.pii import pii_cipher
from app.services.compliance.sanctions_loader import load_directory
from tests.support import Worker, wait_for

pytestmark = pytest.mark.integration
SMALL = Path(__file__).resolve().parent.parent / "data" / "ofac-sdn-small"


@pytest.fixture(scope="module")
def small_list(service_env: dict[str, str]) -> int:
    with unit_of_work() as session:
        return load_directory(session, SMALL, rescreen_after=False).version_id


def party() -> str:
    return f"screened-{uuid.uuid4().hex[:8]}"


def screen(who: str, names: Iterable[str] = (), addresses: Iterable[str] = (),
           screening_id: str | None = None) -> dict[str, Any]:
    from tasks.compliance import send_screening  # noqa: PLC0415 - after service_env's settings

    with unit_of_work() as session:
        requested = screening.request_screening(
            session, pii_cipher(get_settings()), party=who, names=list(names),
            addresses=list(addresses), screening_id=screening_id)
    send_screening(requested.screening_id)

    def completed() -> dict[str, Any] | None:
        with unit_of_work() as session:
            found = session.get(Screening, requested.screening_id)
            return screening.screening_view(found) if found and found.status == "completed" \
                else None

    return wait_for(completed, timeout=30, what=f"screening {requested.screening_id}")


def hit_uids(result: dict[str, Any]) -> set[int]:
    return {h["entry_uid"] for h in result["hits"]}


@pytest.mark.parametrize(("name", "uid", "decision"), [
    ("KHOROSHEV, Dmitry Yuryevich", 48603, "match"),
    ("Dmitrii Yurievich Horoshev", 48603, "match"),  # alias + transliteration
    ("LockBitSupp", 48603, "match"),  # alias from the remarks
    ("Dmitry Khoroshev", 48603, None),  # reordered, middle name dropped: match or possible
    ("Artyom Mikhailovich Lifshits", 29702, None),  # transliteration
    ("Daniel Gonzalo Moreno", 15102, "match"),  # alt.csv alias MORENO JR., Daniel Gonzalo
])
def test_listed_people_are_found(worker: Worker, small_list: int, name: str, uid: int,
                                 decision: str | None) -> None:
    result = screen(party(), [name])
    assert uid in hit_uids(result), result
    hit = next(h for h in result["hits"] if h["entry_uid"] == uid)
    assert hit["list_version"] == small_list == result["list_version"]
    assert hit["kind"] == "name" and hit["query"] == "name[0]"
    assert hit["matched_name"]
    assert hit["decision"] in ((decision,) if decision else ("match", "possible"))
    assert result["decision"] == hit["decision"]


def test_listed_crypto_addresses_are_found_whatever_their_case(worker: Worker,
                                                               small_list: int) -> None:
    by_address = screen(party(), addresses=["12UDABS2TKX7NXCSJ6KPQXFAKJE52ZPLHZ"])
    assert hit_uids(by_address) == {29702}
    assert by_address["hits"][0]["kind"] == "address"
    assert by_address["hits"][0]["score"] == 1.0
    # A settlement party that is itself a listed address needs no separate address.
    as_party = screen("0x901BB9583B24D97E995513C6778DC6888AB6870E")
    assert as_party["party"] == "0x901bb9583b24d97e995513c6778dc6888ab6870e"
    assert (hit_uids(as_party), as_party["decision"]) == ({29702}, "match")


def test_common_unlisted_names_stay_clear(worker: Worker, small_list: int) -> None:
    result = screen(party(), ["John Smith", "Maria Garcia", "Wei Zhang", "Anna Schmidt"],
                    ["0x0000000000000000000000000000000000000001"])
    assert (result["decision"], result["hits"]) == ("clear", [])
    assert result["screened"] == {"names": 4, "addresses": 2, "list_loaded": True}


def test_a_new_hit_is_published_once(worker: Worker, small_list: int) -> None:
    who = party()

    def hits_published() -> list[dict[str, Any]]:
        with unit_of_work() as session:
            return [e.payload for e in session.scalars(select(OutboxEvent).where(
                OutboxEvent.event_type == "sanctions.hit", OutboxEvent.aggregate_id == who))]

    assert screen(who, ["Anna Schmidt"])["decision"] == "clear"
    assert hits_published() == []
    screen(who, ["Tasca"])  # the subject now has both names
    [event] = hits_published()
    assert event["hits"][0]["entry_uid"] == 52327
    assert event["hits"][0]["matched_name"] == "TASCA"
    assert "Anna" not in str(event)  # query names never leave the system
    screen(who, [])
    assert len(hits_published()) == 1


def test_a_screening_id_is_idempotent(worker: Worker, small_list: int) -> None:
    who, screening_id = party(), f"s-{uuid.uuid4().hex[:8]}"
    first = screen(who, ["Frunze"], screening_id=screening_id)
    again = screen(who, ["Frunze"], screening_id=screening_id)
    assert first == again
    with pytest.raises(Conflict), unit_of_work() as session:
        screening.request_screening(session, pii_cipher(get_settings()), party=who,
                                    names=["Other"], addresses=[], screening_id=screening_id)


def test_query_names_are_stored_sealed(worker: Worker, small_list: int) -> None:
    who = party()
    screen(who, ["Zebulon Quartermain"])
    with unit_of_work() as session:
        subject = session.get(ScreeningSubject, who)
        assert subject is not None and subject.names_sealed is not None
        assert b"Zebulon" not in subject.names_sealed
        assert screening.subject_names(subject, pii_cipher(get_settings())) == [
            "Zebulon Quartermain"]
