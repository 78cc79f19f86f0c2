"""Optional tokens: particles, titles and legal forms are matched if present, never required;
legal forms are known through transliteration; the Russian initial ye; Greek compared as Greek
writes Latin names; Arabic doubled letters and initial ya and waw."""

from __future__ import annotations

import pytest

from app.domain.compliance.matching import Decision, decide, name_score
from app.domain.compliance.names import (
    abjad_skeletons,
    counts_when_paired,
    greek_key,
    noise_kind,
    normalise,
    skeleton,
    transliterated,
)
from app.services.compliance.name_text import prepare
from app.services.compliance.screening_index import ListedName, ScreeningIndex

MATCH, POSSIBLE = 0.92, 0.85


def test_particles_and_legal_forms_are_kept_as_optional_tokens() -> None:
    name = normalise("Haji KHAN")
    assert (name.tokens, name.optional) == (("khan",), ("haji",))
    company = normalise("Dena Tankers FZE")
    assert (company.tokens, company.optional) == (("dena", "tankers"), ("fze",))


@pytest.mark.parametrize(("listed", "tokens"), [
    ("SAID, Khan", ("said", "khan")),  # Said is all of the surname: a name there
    ("IBRAHIM, Haji", ("ibrahim", "haji")),  # Haji is the only given name
    ("PAO, Yu Yi", ("pao", "yu", "yi")),  # a surname that is also a Russian legal form
    ("SOE, Maung Maung", ("soe", "maung", "maung")),
    ("AL-ASAD, Bashar", ("asad", "bashar")),  # never an article alone
])
def test_a_particle_or_legal_form_that_is_all_of_one_side_is_a_name(
        listed: str, tokens: tuple[str, ...]) -> None:
    assert normalise(listed).tokens == tokens


def test_a_company_legal_form_after_the_comma_stays_optional() -> None:
    name = normalise("GOODWILL CHARITABLE ORGANIZATION, INC.")
    assert "inc" in name.optional and "inc" not in name.tokens


@pytest.mark.parametrize(("respelt", "form"), [
    ("phze", "fze"), ("ptii", "pty"), ("pwt", "pvt"), ("korp", "corp"), ("dzhsc", "jsc"),
    ("czhsc", "cjsc"), ("yeud", "eood"), ("stocq", "stock"), ("kompani", "company"),
])
def test_legal_forms_are_known_through_transliteration(respelt: str, form: str) -> None:
    assert noise_kind(respelt) == noise_kind(form) == "legal"


@pytest.mark.parametrize("name", ["said", "kole", "mir", "ella", "tokyo", "sid"])
def test_names_that_merely_resemble_a_form_are_not_legal_forms(name: str) -> None:
    assert noise_kind(name) != "legal"


def test_only_titles_and_particles_are_evidence_when_both_names_have_them() -> None:
    assert counts_when_paired("haji") and counts_when_paired("sheikh")
    assert not counts_when_paired("ltd") and not counts_when_paired("and")


def test_the_russian_initial_ye_is_e() -> None:
    assert transliterated("yelena") == transliterated("elena")
    assert transliterated("yekuip") == transliterated("ekuip")
    assert transliterated("yuryevich") == transliterated("yurievich")  # not inside a word


def test_an_unpaired_optional_token_costs_nothing() -> None:
    # "Dena Tankers FZE" against "DENA TANKERS": the FZE is on one side only
    scored = name_score([4, 7, 3], [4, 7], [(1.0, 0, 0), (1.0, 1, 1)],
                        query_optional=frozenset({2}))
    assert scored.score == 1.0 and scored.complete and scored.decisive


def test_two_optional_tokens_alike_never_decide_alone() -> None:
    scored = name_score([4], [4], [(1.0, 0, 0)], query_optional=frozenset({0}),
                        listed_optional=frozenset({0}))
    assert not scored.decisive


def test_a_shared_title_counts_for_a_dropped_middle_name() -> None:
    # "Haji KHAN" (khan, haji?) against "KHAN, Haji Mohammad" (khan, mohammad, haji?)
    scored = name_score([4, 4], [4, 8, 4], [(1.0, 0, 0), (1.0, 1, 2)], frozenset({0}),
                        query_optional=frozenset({1}), listed_optional=frozenset({2}))
    assert scored.rule == "subset"
    assert decide(scored.score, MATCH, POSSIBLE, decisive=scored.decisive) is Decision.POSSIBLE


@pytest.fixture(scope="module")
def index() -> ScreeningIndex:
    return ScreeningIndex([
        ListedName(1, "KHAN, Haji Mohammad"), ListedName(2, "SAID, Khan"),
        ListedName(3, "DENA TANKERS FZE"), ListedName(4, "ATLANTIC TRADING LTD"),
        ListedName(5, "MUSAVI, Sayyed Kamal"), ListedName(6, "PAO, Yu Yi"),
    ], [])


def _decision(index: ScreeningIndex, query: str, uid: int) -> Decision:
    hits = [h for h in index.screen_name(query, floor=POSSIBLE) if h.uid == uid]
    if not hits:
        return Decision.CLEAR
    return decide(hits[0].score, MATCH, POSSIBLE, decisive=hits[0].decisive)


@pytest.mark.parametrize(("query", "uid", "decision"), [
    ("Haji KHAN", 1, Decision.POSSIBLE),  # the title pairs, the middle name is dropped
    ("Khan", 2, Decision.CLEAR),  # Said is the surname there, not a title
    ("Khan Said", 2, Decision.MATCH),
    ("dena tanqers phze", 3, Decision.MATCH),  # the legal form respelt costs nothing
    ("Nordic Atlantic Trading Ltd", 4, Decision.CLEAR),  # two LTDs alike are no evidence
    ("سيد كمل موسفي", 5, Decision.POSSIBLE),  # Arabic سيد pairs with the optional Sayyed
    ("Yu PAO", 6, Decision.POSSIBLE),
])
def test_optional_tokens_in_screening(index: ScreeningIndex, query: str, uid: int,
                                      decision: Decision) -> None:
    assert _decision(index, query, uid) is decision


def test_greek_is_compared_as_greek_writes_latin_names() -> None:
    # no sh, ch and kh written as h, w as u
    assert greek_key("shawqi") == greek_key("sauki")
    assert greek_key("bouchoucha") == greek_key("buhuha")
    assert greek_key("shaykh") == greek_key("saih")
    assert greek_key("petrov") == transliterated("petrov")


def test_greek_ntz_is_dz_and_each_word_has_its_second_reading() -> None:
    assert prepare("γκοραν χαντζικ").name.tokens == ("goran", "hadzik")
    # ντελ is the connective "del" in one reading, so the readings are paired word by word
    prepared = prepare("μαρια ντελ πιλαρ περεζ μοντερο")
    assert dict(prepared.readings)[prepared.name.tokens.index("modero")] == "montero"


def test_greek_queries_find_names_written_with_sh_and_w() -> None:
    index = ScreeningIndex([ListedName(1, "ISLAMBOULI, Mohammad Shawqi"),
                            ListedName(2, "SHAWKAT, Assef")], [])
    assert _decision(index, "μοχαμμαντ σαουκι ισλαμμπουλι", 1) is not Decision.CLEAR
    assert _decision(index, "ασσεφ σαουκατ", 2) is not Decision.CLEAR
    assert _decision(index, "assef saukat", 2) is Decision.CLEAR  # only read so from Greek


def test_an_abjad_writes_a_doubled_letter_once() -> None:
    assert skeleton("tchad") in abjad_skeletons("ttshd")  # a t and the tch of Tchad
    assert skeleton("botache") in abjad_skeletons("buttshi")  # the t and ch of Botache


def test_arabic_initial_ya_and_waw_are_consonants() -> None:
    assert prepare("يو يي").name.tokens == ("yu", "yi")
    assert prepare("وليد").name.tokens == ("wlid",)
