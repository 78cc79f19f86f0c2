"""Any script to a Latin-script name, legal forms rewritten, before app.domain's normalisation.

The transliteration and the legal-form table are OpenSanctions' `rigour` (which uses
`normality`/ICU for the scripts it does not romanise itself), the libraries OpenSanctions' own
matcher uses: Cyrillic, Greek, Armenian, Georgian and Hangul get rigour's romanisation
(Шевченко → Shevchenko), Arabic, Hebrew, Devanagari and others ICU's. Legal forms are
rewritten in the name's own script (ООО, Aktiengesellschaft, Sociedad Anónima → one generic
form) before transliteration, since the table knows them as written.

Two things are handled here because the libraries' romanisation is lossy for matching:
* Arabic: the letters that write long vowels (ا و ي ى) and the feminine ending (ة) are read as
  vowels, and ʿayn and hamza as nothing, as Latin spellings of Arabic names do (علي → "ali",
  not "ʿly"). The article stays attached, as in Alfonso (الفونسو): the index compares an
  abjad token's consonants with and without it.
* Greek: the digraphs that write b, d, g and j in foreign names (μπ, ντ, γκ, τζ) are read
  so, and χ as h.
* Han and Japanese kana: a reading in pinyin or romaji is not how a sanctions list spells a
  Korean, Japanese or Chinese name, so such a name is screened but marked `lossy`: a screening
  with no hit on it is not `clear` (app.domain.compliance.screening_rules).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from rigour._core import text_scripts
from rigour.names import extract_org_types
from rigour.text import ascii_text

from app.domain.compliance.names import (
    LEGAL_FORMS,
    NormalisedName,
    fold,
    normalise,
    without_abjad_particles,
)

LOSSY_SCRIPTS = frozenset({"Han", "Hiragana", "Katakana", "Yi", "Tangut"})
ABJAD_SCRIPTS = frozenset({"Arabic", "Hebrew", "Syriac", "Thaana"})
_ARABIC = str.maketrans({
    "ا": "a", "أ": "a", "إ": "i", "آ": "a", "ى": "a", "ٱ": "a", "ة": "a", "و": "u", "ي": "i",
    "ی": "i", "ع": "a", "ء": "", "ئ": "i", "ؤ": "u", "ـ": "",
    # diacritics, where they are written
    "\u064e": "a", "\u064f": "u", "\u0650": "i", "\u0651": "", "\u0652": "",
})
# ي and و that begin a word before another letter are the consonants y and w (يوسف Yusuf,
# وليد Walid, يي Yi, وي Wee), not vowels.
_ARABIC_INITIAL = re.compile(r"(?<!\w)[يو](?=\w)")
_ARABIC_CONSONANT = {"ي": "y", "و": "w"}
# Greek writes the b, d, g, j and h of foreign names as digraphs or χ (Μπους, Λάντεν, Τζον,
# Χασάν), which romanise letter by letter; inside a word μπ and ντ are b/d or mp/nt (Αμπού is
# Abu, Αντόνιο Antonio), so such a name is read both ways.
_GREEK_Y = re.compile(r"(?<!\w)γι(?=[αεηοω]|ου)")  # γι before a vowel is y: Γιούρι, Yuri
_GREEK = (("γκ", "g"), ("τζ", "j"), ("χ", "h"), ("ου", "u"))
# ντζ is dz (Χαντζιτς Hadzic, Μαντζονγκουε Madzongwe) where it is read as d
_GREEK_DZ = ("ντζ", "dz")
_GREEK_READINGS = ((("μπ", "b"), ("ντ", "d")), (("μπ", "mp"), ("ντ", "nt")))
# The second reading also takes ου before a vowel as w, as Greek writes a foreign w (Ουέι Wei,
# Ουαφίκ Wafiq), and χ as ch, as lists romanise it in Korean and Slavic names (Χαλί Chaliy).
_GREEK_W = re.compile(r"ου(?=[αεηιοωυ])")
_APOSTROPHES = re.compile("['`\u00b4\u2018\u2019\u02bc]")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_UNREADABLE = re.compile(r"[^\x20-\x7e]|\?")


@dataclass(frozen=True, slots=True)
class Prepared:
    """A name ready to screen: its normalised form, and whether the script it was written in
    romanises too loosely for a miss to mean `clear`."""

    name: NormalisedName
    lossy: bool
    abjad: bool  # written without short vowels: compare consonant skeletons too
    # another reading of some tokens, by position, where the script is ambiguous
    readings: tuple[tuple[int, str], ...] = ()
    greek: bool = False  # written in Greek: compare tokens as Greek writes them too


def legal_forms_rewritten(text: str) -> str:
    """Legal forms found by rigour's table, each written as its generic form ("ооо" → "llc").
    A match of three letters or fewer that is not a common abbreviation is left alone: the
    table also knows forms such as "sem" that are given names elsewhere, and the boundary it
    checks splits "sa'ad" at the apostrophe."""
    found = extract_org_types(_APOSTROPHES.sub("", text), generic=True)
    text = _APOSTROPHES.sub("", text)
    for span, generic in sorted(found, key=lambda f: -len(f[0])):
        if len(span) <= 3 and span not in LEGAL_FORMS:
            continue
        form = generic if generic in LEGAL_FORMS else "co"
        text = re.sub(rf"(?<!\w){re.escape(span)}(?!\w)", f" {form} ", text)
    return text


def latin(name: str, reading: int = 0) -> tuple[str, frozenset[str]]:
    """The name in Latin letters with legal forms rewritten, and the scripts it was in;
    `reading` 1 is the second reading of an ambiguous script (Greek μπ, ντ)."""
    # Words run together keep their capitals ("JianZHANG"): split there first. Casefolded but
    # not yet stripped of accents: the legal-form table knows "société".
    text = unicodedata.normalize("NFKC", _CAMEL.sub(" ", name)).casefold()
    scripts: frozenset[str] = frozenset()
    if not text.isascii():
        scripts = frozenset(text_scripts(text))
        if "Arabic" in scripts:
            text = _ARABIC_INITIAL.sub(lambda m: _ARABIC_CONSONANT[m.group()], text)
            text = text.translate(_ARABIC)
        if "Greek" in scripts:
            text = _GREEK_Y.sub("y", fold(text))  # the digraphs are written with accents too
            if reading:
                text = _GREEK_W.sub("w", text).replace("χ", "ch")
            first = () if reading else (_GREEK_DZ,)
            for digraph, letter in (*first, *_GREEK, *_GREEK_READINGS[reading]):
                text = text.replace(digraph, letter)
    text = legal_forms_rewritten(text)
    # Transliterate before folding: folding strips the marks that make ё and й letters.
    if scripts - {"Latin", "Common", "Inherited"}:
        text = ascii_text(text)
    text = fold(text)
    if not text.isascii():
        text = _UNREADABLE.sub(" ", ascii_text(text))
    return text, scripts


@lru_cache(maxsize=65536)
def prepare(name: str) -> Prepared:
    """Transliterate, rewrite legal forms and normalise, as for every query and listed name."""
    text, scripts = latin(name)
    normalised = normalise(text)
    if scripts & ABJAD_SCRIPTS:
        normalised = without_abjad_particles(normalised)
    readings: tuple[tuple[int, str], ...] = ()
    if "Greek" in scripts:
        readings = _second_readings(name, normalised.tokens)
    return Prepared(normalised, bool(scripts & LOSSY_SCRIPTS), bool(scripts & ABJAD_SCRIPTS),
                    readings, "Greek" in scripts)


def _second_readings(name: str, tokens: tuple[str, ...]) -> tuple[tuple[int, str], ...]:
    """The second reading of each token, word by word: a word may be a connective in one
    reading and a name in the other (ντελ is "del" or "ntel"), so the name's tokens as a whole
    need not line up."""
    other: dict[str, str] = {}
    for word in name.split():
        first = normalise(latin(word)[0]).tokens
        second = normalise(latin(word, reading=1)[0]).tokens
        if len(first) == len(second) == 1 and first != second:
            other[first[0]] = second[0]
    return tuple((i, other[t]) for i, t in enumerate(tokens) if t in other)
