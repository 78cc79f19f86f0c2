"""Name normalisation for sanctions screening (DOMAIN.md §4): case, accents, punctuation, token
order and the common transliteration variants, all reduced before any similarity is scored."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# Letters NFKD does not decompose into a base letter plus a combining mark.
_SPECIAL_LETTERS = str.maketrans({
    "ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th",
    "\u0131": "i", "ħ": "h", "ŧ": "t",  # dotless i
})
# Dots and apostrophes join what they separate ("S.A." → "sa", "O'Brien" → "obrien"); every
# other non-alphanumeric character separates tokens ("AL-HASSAN" → "al hassan").
# (apostrophe, grave, acute, left/right single quotation marks, modifier letter apostrophe)
_JOINERS = re.compile("[.'`\u00b4\u2018\u2019\u02bc]")
_SEPARATORS = re.compile(r"[^0-9a-z]+")

# Legal forms and connectives carry no identity: "X Trading Co." and "X TRADING COMPANY LTD"
# are the same name. They are dropped unless nothing else would remain.
NOISE_TOKENS = frozenset({
    "and", "of", "the", "for", "ltd", "llc", "inc", "co", "corp", "corporation", "company",
    "limited", "sa", "sro", "gmbh", "ag", "jsc", "ojsc", "cjsc", "pjsc", "ooo", "oao", "zao",
    "pao", "plc", "llp", "bv", "nv", "srl", "spa", "fze", "fzco", "fzc", "sarl", "pte", "pvt",
    "bhd", "sdn", "ltda", "cia", "lp", "kg", "oy", "ab", "doo", "ead", "jv",
})

# Romanisation variants of the same sound (Cyrillic, Arabic, Persian sources), rewritten to one
# spelling. Order matters: longer patterns first.
_TRANSLIT: tuple[tuple[str, str], ...] = (
    ("shch", "sh"), ("sch", "sh"), ("tch", "ch"), ("dzh", "j"), ("dj", "j"), ("zh", "j"),
    ("kh", "h"), ("gh", "g"), ("ph", "f"), ("th", "t"), ("dh", "d"), ("ck", "k"), ("q", "k"),
    ("ou", "u"), ("oo", "u"), ("ee", "i"), ("w", "v"), ("x", "ks"), ("y", "i"), ("ie", "i"),
    ("ei", "i"), ("tz", "ts"), ("c", "k"),
)
_DOUBLED = re.compile(r"(.)\1+")
# Russian ё after a consonant: Artyom/Artem, Pyotr/Petr, Fyodor/Fedor (not Yosef, Yolanda).
_YO = re.compile(r"(?<=[bcdfgjklmnpstvz])yo")
# The most frequent names with many romanisations, keyed by their transliterated forms.
_CANONICAL: dict[str, str] = {
    **dict.fromkeys(("muhamad", "mohamed", "mohamad", "muhamed", "mohd", "mohamud", "mehmed",
                     "mehmet"), "muhamad"),
    **dict.fromkeys(("usama", "osama", "usamah", "osamah"), "usama"),
    **dict.fromkeys(("iusuf", "iusef", "iusif", "iosef", "iosif"), "iusuf"),
    **dict.fromkeys(("husain", "husin", "husien", "husan"), "husain"),
    **dict.fromkeys(("abd", "abdul", "abdel", "abdal", "abdol"), "abd"),
}


def fold(text: str) -> str:
    """Lower-case, strip accents, map special letters; keeps spacing and punctuation."""
    text = unicodedata.normalize("NFKC", text).casefold().translate(_SPECIAL_LETTERS)
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def tokens(name: str) -> tuple[str, ...]:
    """The identity-bearing tokens of a name, in their original order."""
    plain = _SEPARATORS.sub(" ", _JOINERS.sub("", fold(name)))
    found = tuple(t for t in plain.split() if t)
    kept = tuple(t for t in found if t not in NOISE_TOKENS)
    return kept or found


def sorted_form(name: str) -> str:
    """Tokens sorted, so "Dmitry Khoroshev" and "KHOROSHEV, Dmitry" read the same."""
    return " ".join(sorted(tokens(name)))


@lru_cache(maxsize=65536)
def transliterated(token: str) -> str:
    """One spelling for common romanisation variants: Dmitriy/Dmitrii/Dmitry → "dmitri"."""
    token = _YO.sub("e", token)
    for pattern, replacement in _TRANSLIT:
        token = token.replace(pattern, replacement)
    return _DOUBLED.sub(r"\1", token)


def name_group(token: str) -> str | None:
    """The group of a frequent many-spellings name (Muhammad/Mohammed/Mohamed...), or None."""
    return _CANONICAL.get(transliterated(token))


LONG_TOKEN = 8


def index_keys(token: str) -> frozenset[str]:
    """Keys under which a listed token is filed: its transliterated form's first two and first
    three letters, and its last three (which catch a typo in the first letters)."""
    key = transliterated(token)
    if len(key) <= 2:
        return frozenset({"=" + key})
    return frozenset({"<" + key[:2], "<" + key[:3], ">" + key[-3:]})


def query_keys(token: str) -> frozenset[str]:
    """Keys a query token looks under. Two spellings of one name share one unless both their
    beginning and their end differ. A long token uses the narrower three-letter prefix: a typo
    among its first letters still leaves its last three intact."""
    key = transliterated(token)
    if len(key) <= 2:
        return frozenset({"=" + key})
    prefix = key[:3] if len(key) >= LONG_TOKEN else key[:2]
    return frozenset({"<" + prefix, ">" + key[-3:]})


@dataclass(frozen=True, slots=True)
class NormalisedName:
    """A name ready for scoring: its tokens and their transliterated forms, in sorted order."""

    tokens: tuple[str, ...]
    translit: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.tokens)

    @property
    def weight(self) -> int:
        return sum(len(t) for t in self.tokens)


def normalise(name: str) -> NormalisedName:
    ordered = tuple(sorted(tokens(name)))
    return NormalisedName(ordered, tuple(transliterated(t) for t in ordered))
