"""Any script to Latin, legal forms, and the screening of other scripts (rigour + the index)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import Settings
from app.domain.compliance.sdn import parse
from app.services.compliance.name_text import prepare
from app.services.compliance.screening_index import ListedAddress, ListedName, ScreeningIndex
from app.services.compliance.screening_lists import ListIndex, screen

SMALL = Path(__file__).resolve().parent.parent / "data" / "ofac-sdn-small"
POSSIBLE = 0.85


@pytest.fixture(scope="module")
def index() -> ScreeningIndex:
    parsed = parse(*((SMALL / f).read_text(encoding="utf-8")
                     for f in ("sdn.csv", "alt.csv", "add.csv")))
    return ScreeningIndex(
        [ListedName(e.uid, n) for e in parsed.entries.values()
         for n in (e.name, *(a.name for a in e.aliases))],
        [ListedAddress(e.uid, a.currency, a.address) for e in parsed.entries.values()
         for a in e.crypto_addresses])


@pytest.mark.parametrize(("written", "tokens"), [
    ("Дмитрий Хорошев", ("dmitry", "horoshev")),  # Cyrillic, rigour's romanisation
    ("Шевченко", ("shevchenko",)),
    ("Γεώργιος Παπαδόπουλος", ("georgios", "papadopulos")),  # Greek, ου read u
    ("Τζον Μπους", ("jon", "bus")),  # Greek digraphs of foreign names: j, b
    ("Χασάν", ("hasan",)),  # χ writes h
    ("محمد علي", ("mhmd", "ali")),  # Arabic: long vowels read, ʿayn as a
    ("أسامة بن لادن", ("asama", "ladn")),  # the feminine ending read a, "bin" dropped
    ("Müller Straße", ("muller", "strasse")),
    ("İbrahim Çelik", ("ibrahim", "celik")),  # Turkish dotted capital I
    ("Ｋａｒｌ", ("karl",)),  # full-width letters
    ("שלום", ("slwm",)),  # Hebrew
    ("김정은", ("gimjeong", "eun")),  # Hangul
])
def test_every_script_is_transliterated(written: str, tokens: tuple[str, ...]) -> None:
    assert prepare(written).name.tokens == tokens


def test_abjad_and_lossy_scripts_are_marked() -> None:
    assert prepare("محمد").abjad and not prepare("Muhammad").abjad
    assert prepare("金正恩").lossy and prepare("こんにちは").lossy
    assert not prepare("김정은").lossy and not prepare("Дмитрий").lossy


def test_a_greek_name_is_read_both_ways() -> None:
    prepared = prepare("Αντόνιο Αμπού")  # Antonio, Abu
    assert prepared.name.tokens == ("adonio", "abu")
    assert dict(prepared.readings) == {0: "antonio", 1: "ampu"}


@pytest.mark.parametrize(("one", "other"), [
    ("Limited Liability Company Alfa", "ALFA LLC"),
    ("ООО Альфа", "Alfa LLC"),  # a Russian legal form, in Cyrillic
    ("Obshchestvo s Ogranichennoy Otvetstvennostyu Alfa", "OOO ALFA"),
    ("Siemens Aktiengesellschaft", "SIEMENS AG"),
    ("Acme Sociedad Anónima", "ACME S.A."),
    ("Acme Société à responsabilité limitée", "ACME SARL"),
    ("Joint Stock Company Neva", "NEVA JSC"),
    ("Acme Trading Company Limited", "Acme Trading Co. Ltd"),
])
def test_legal_forms_long_and_short_are_one_name(one: str, other: str) -> None:
    assert prepare(one).name.tokens == prepare(other).name.tokens


def test_words_run_together_with_capitals_are_split() -> None:
    assert prepare("JianZHANG").name.tokens == ("jian", "zhang")


@pytest.mark.parametrize("query", [
    "Дмитрий Юрьевич Хорошев",  # Cyrillic
    "Ντμίτρι Γιούριεβιτς Χοροσέφ",  # Greek
    "KHOROSHEV Dmitriy-Yurevich",
    "DmitryYuryevich Khoroshev",  # run together
    "Mr. Dmitry Yuryevich Khoroshev",  # an honorific
])
def test_other_spellings_find_the_listed_person(index: ScreeningIndex, query: str) -> None:
    assert 48603 in {h.uid for h in index.screen_name(query, floor=POSSIBLE)}


def test_a_hit_explains_itself(index: ScreeningIndex) -> None:
    [hit] = [h for h in index.screen_name("Dmitri Khoroshev", floor=POSSIBLE) if h.uid == 48603]
    breakdown = hit.breakdown
    assert breakdown["rule"] == "subset" and breakdown["surname_matched"] is True
    assert {(t["query"], t["how"]) for t in breakdown["tokens"]} == {
        ("dmitri", "transliteration"), ("khoroshev", "exact")}
    assert len(breakdown["unmatched_listed"]) == 1  # the middle name
    assert not hit.decisive


def test_a_name_with_nothing_to_compare_is_possible_never_clear(index: ScreeningIndex) -> None:
    lists = [ListIndex("OFAC-SDN", 1, index)]
    for name in ("!!! ???", "金正恩", "---"):
        [hit] = screen(lists, Settings(), [name], [])
        assert (hit["decision"], hit["reason"]) == ("possible", "unscreenable_name")
    assert screen(lists, Settings(), ["John Smith"], []) == []
