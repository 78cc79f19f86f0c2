"""Name normalisation for sanctions screening (DOMAIN.md §4).

Every query and every listed name goes through the same steps, in this order:

1. Latin script: the caller transliterates (app.services.compliance.name_text, with
   OpenSanctions' rigour and normality); here, case and accents are folded.
2. Legal forms: the caller rewrites long and local forms to one generic form first
   ("Limited Liability Company", "OOO", "GmbH" → "llc"); here every legal form is dropped,
   since it carries no identity ("X Trading Co." and "X TRADING COMPANY LTD" are one name).
3. Honorifics and particles (Haji, Shaikh, Mr, bin, ibn, al, el...) are dropped.
4. What is left, in the order written, are the name's tokens; the tokens before a comma are the
   surname ("KHOROSHEV, Dmitry Yuryevich").
If nothing but legal forms or particles remains, they are kept: "LTD." is still a name.

Each token has three spellings for comparison: as written (folded), transliterated (one
spelling for the common romanisation variants: Dmitriy/Dmitrii/Dmitry → "dmitri"), and its
consonant skeleton (for names written in an abjad, Arabic or Hebrew, where short vowels are not
written: محمد reads "mhmd", which is Muhammad's skeleton).
"""

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
# (apostrophe, grave, acute, left/right single quotation marks, modifier letter apostrophe and
# the half rings that romanise Arabic ʿayn and hamza)
_JOINERS = re.compile("[.'`\u00b4\u2018\u2019\u02bc\u02be\u02bf\u02bb]")
_SEPARATORS = re.compile(r"[^0-9a-z]+")

# Legal forms (including the generic forms the caller rewrites them to) and connectives.
LEGAL_FORMS = frozenset({
    "ltd", "llc", "inc", "co", "corp", "corporation", "company", "limited", "sa", "sro",
    "gmbh", "ag", "jsc", "ojsc", "cjsc", "pjsc", "ooo", "oao", "zao", "pao", "plc", "llp", "bv",
    "nv", "srl", "spa", "fze", "fzco", "fzc", "sarl", "pte", "pvt", "bhd", "sdn", "ltda", "cia",
    "lp", "kg", "oy", "ab", "doo", "ead", "jv", "incorporated", "sas", "sae", "spzoo", "pllc",
    "fzllc", "ltdco", "soe", "coop",
    # the long forms' words, for the ASCII spellings the caller's table does not know
    "gesellschaft", "beschrankter", "beschraenkter", "haftung", "aktiengesellschaft",
    "societe", "responsabilite", "limitee", "societa", "responsabilita", "limitata",
    "sociedad", "anonima", "anonyme", "obshchestvo", "ogranichennoi", "ogranichennoy",
    "otvetstvennostyu", "aktsionernoe", "zakrytoe", "otkrytoe", "publichnoe",
})
CONNECTIVES = frozenset({"and", "of", "the", "for", "und", "et", "y", "de", "del", "la", "le",
                         "mit", "s", "a"})
# Honorifics, titles and the particles of Arabic, Persian and Malay names: present in one
# spelling of a name and absent from another, so they carry no identity of their own.
PARTICLES = frozenset({
    "bin", "ibn", "bint", "bn", "al", "el", "ul", "haji", "hajji", "hadji", "haj", "hajj",
    "alhaj", "alhajj", "alhaji", "shaikh", "sheikh", "shaykh", "sheik", "shaik", "sayyid",
    "sayed", "syed", "mullah", "mulla", "maulana", "maulvi", "mawlawi", "mawlana", "qari",
    "mr", "mrs", "ms", "miss", "dr", "prof", "sir", "hon", "mister", "madam",
    "jr", "junior", "sr", "senior", "ii", "iii", "iv",  # generational suffixes
})
NOISE_TOKENS = LEGAL_FORMS | CONNECTIVES | PARTICLES
# "son of" between two names, but a given name of its own at either end ("Ben Smith").
INNER_PARTICLES = frozenset({"ben", "ibni", "binti", "ould", "uld"})

# Romanisation variants of the same sound (Cyrillic, Arabic, Persian sources), rewritten to one
# spelling. Order matters: longer patterns first.
_TRANSLIT: tuple[tuple[str, str], ...] = (
    ("shch", "sh"), ("sch", "sh"), ("tch", "ch"), ("dzh", "j"), ("dj", "j"), ("zh", "j"),
    ("kh", "h"), ("gh", "g"), ("ph", "f"), ("th", "t"), ("dh", "d"), ("ck", "k"), ("q", "k"),
    ("ou", "u"), ("oo", "u"), ("ee", "i"), ("w", "v"), ("x", "ks"), ("y", "i"), ("ie", "i"),
    ("ei", "i"), ("tz", "ts"), ("c", "k"),
)
_DOUBLED = re.compile(r"(.)\1+")
# The Russian surname ending -ov as French and German sources write it: Popoff, Smirnoff.
_OFF = re.compile(r"(?<=\w\w)of$")
_VOWELS = re.compile(r"[aeiou]+")
_ABJAD_LETTERS = str.maketrans({"p": "b", "v": "f", "q": "k", "c": "k", "x": "ks", "j": "g"})
# Sounds an abjad writes with one letter (or pair) whatever the Latin spelling: ch and tch as
# تش or ش (Chad, Richard), j, zh and g as ج or غ (Arabic has no g: Georgiy is جورجي or
# غيورغي), before the letters are mapped. Not dj: read back from دج it is two letters.
_ABJAD_SOUNDS = re.compile(r"t?sh|t?ch|zh|gh")
_ABJAD_SOUND_LETTER = {"sh": "s", "tsh": "s", "ch": "s", "tch": "s", "zh": "g", "gh": "g"}
_ABJAD_DROPPED = re.compile(r"[aeiouwyh]+")
_VOWELS_ONLY = re.compile(r"[aeiou]+")
# Russian ё after a consonant: Artyom/Artem, Pyotr/Petr, Fyodor/Fedor (not Yosef, Yolanda).
_YO = re.compile(r"(?<=[bcdfgjklmnpstvz])yo")
# The most frequent names with many romanisations, keyed by their transliterated forms.
_CANONICAL: dict[str, str] = {
    **dict.fromkeys(("muhamad", "mohamed", "mohamad", "muhamed", "mohd", "mohamud", "mehmed",
                     "mehmet", "muhamet"), "muhamad"),
    **dict.fromkeys(("usama", "osama", "usamah", "osamah"), "usama"),
    **dict.fromkeys(("iusuf", "iusef", "iusif", "iosef", "iosif"), "iusuf"),
    **dict.fromkeys(("husain", "husin", "husien", "husan", "husein", "hosein", "hosain"),
                    "husain"),
    **dict.fromkeys(("abd", "abdul", "abdel", "abdal", "abdol", "abdu"), "abd"),
}


def fold(text: str) -> str:
    """Lower-case, strip accents, map special letters; keeps spacing and punctuation."""
    text = unicodedata.normalize("NFKC", text).casefold().translate(_SPECIAL_LETTERS)
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _plain(text: str) -> list[str]:
    return _SEPARATORS.sub(" ", _JOINERS.sub("", fold(text))).split()


def is_noise(token: str) -> bool:
    """A legal form, connective or particle, in any of its romanisations ("korporatsiya"), or
    a word of six letters or more one edit from one ("sheiqh", "limitid")."""
    if token in NOISE_TOKENS:
        return True
    key = transliterated(token)
    # y for i as well, before the Russian ё rule reads "tyo" as "te" ("korporatyon")
    if key in _NOISE_SPELLINGS or transliterated(token.replace("y", "i")) in _NOISE_SPELLINGS:
        return True
    return len(token) >= FUZZY_NOISE_MIN and bool(deletions(key) & _NOISE_DELETIONS)


def name_parts(name: str) -> tuple[tuple[str, ...], frozenset[int]]:
    """The identity-bearing tokens of a (Latin-script) name in their written order, and the
    positions of its surname: the tokens before a comma, when the name has one."""
    surname_text, comma, _ = name.partition(",")
    surname_count = len(_plain(surname_text)) if comma else 0
    found = _plain(name)
    last = len(found) - 1
    kept = [i for i, t in enumerate(found) if not is_noise(t)
            and not (t in INNER_PARTICLES and 0 < i < last)]
    if not kept:
        kept = [i for i, t in enumerate(found) if t not in PARTICLES] or list(range(len(found)))
    surname = frozenset(n for n, i in enumerate(kept) if i < surname_count)
    # A surname wholly made of particles ("AL-ASAD, Bashar" keeps "asad") cannot be empty,
    # and a name whose comma splits off everything is treated as having no known surname.
    if len(surname) == len(kept):
        surname = frozenset()
    return tuple(found[i] for i in kept), surname


def tokens(name: str) -> tuple[str, ...]:
    """The identity-bearing tokens of a name, in their original order."""
    return name_parts(name)[0]


def sorted_form(name: str) -> str:
    """Tokens sorted, so "Dmitry Khoroshev" and "KHOROSHEV, Dmitry" read the same."""
    return " ".join(sorted(tokens(name)))


@lru_cache(maxsize=65536)
def transliterated(token: str) -> str:
    """One spelling for common romanisation variants: Dmitriy/Dmitrii/Dmitry → "dmitri"."""
    token = _YO.sub("e", token)
    for pattern, replacement in _TRANSLIT:
        token = token.replace(pattern, replacement)
    return _OFF.sub("ov", _DOUBLED.sub(r"\1", token))


# Only the longer words: a two- or three-letter spelling is too often a name of its own.
_NOISE_SPELLINGS = frozenset(transliterated(t) for t in NOISE_TOKENS if len(t) >= 5)
FUZZY_NOISE_MIN = 6


@lru_cache(maxsize=65536)
def skeleton(token: str) -> str:
    """The consonants of the token as an abjad writes them: no vowels, and no w, y or h,
    which Arabic writes with the letters it also uses for vowels (و ي) or drops (ه ح are
    often not romanised); no p or v either, which it writes b and f; one letter for the sounds
    an abjad writes alike (ch/sh, j/g/gh/zh, x/ks)."""
    sounds = _ABJAD_SOUNDS.sub(lambda m: _ABJAD_SOUND_LETTER[m.group()], token)
    consonants = _ABJAD_DROPPED.sub("", sounds.translate(_ABJAD_LETTERS))
    return _DOUBLED.sub(r"\1", consonants)


@lru_cache(maxsize=65536)
def short_skeleton(token: str) -> str:
    """The skeleton with its h kept, for tokens of few consonants: an abjad writes h (ح ه),
    where the vowels alone would leave nothing to compare ("Ho" حو, "Hae" هي, "Hayat"
    حيت)."""
    sounds = _ABJAD_SOUNDS.sub(lambda m: _ABJAD_SOUND_LETTER[m.group()], token)
    consonants = re.sub(r"[aeiouwy]+", "", sounds.translate(_ABJAD_LETTERS))
    return _DOUBLED.sub(r"\1", consonants)


def _written_consonants(token: str) -> str:
    return _DOUBLED.sub(r"\1", _VOWELS_ONLY.sub("", token))


def is_abjad_particle(token: str) -> bool:
    """A token read from an abjad that is a particle or title with its short vowels unwritten
    ("ابن" reads "abn", the consonants of "ibn"; موللح "mullh", mullah; حجي "hji", haji)."""
    # No longer than the particle written with its vowels: Punti (بونتي) has bint's consonants.
    longest = max(_PARTICLE_SKELETONS.get(skeleton(token), 0),
                  _PARTICLE_CONSONANTS.get(_written_consonants(token), 0))
    return 0 < len(token) <= longest


def without_abjad_particles(name: NormalisedName) -> NormalisedName:
    """A name read from an abjad, without the tokens that are particles or titles with their
    vowels unwritten, unless nothing else remains."""
    kept = tuple(t for t in name.tokens if not is_abjad_particle(t))
    if not kept or len(kept) == len(name.tokens):
        return name
    return NormalisedName(kept, tuple(transliterated(t) for t in kept))


def name_group(token: str) -> str | None:
    """The group of a frequent many-spellings name (Muhammad/Mohammed/Mohamed...), or None."""
    return _CANONICAL.get(transliterated(token))


def deletions(key: str) -> frozenset[str]:
    """The key and every spelling of it with one letter deleted: two spellings one edit
    (substitution, insertion, deletion, adjacent transposition) apart share one of these."""
    return frozenset({key, *(key[:i] + key[i + 1:] for i in range(len(key)))})


_NOISE_DELETIONS = frozenset(d for word in NOISE_TOKENS if len(word) >= FUZZY_NOISE_MIN
                             for d in deletions(transliterated(word)))
DELETION_MAX = 9  # longer tokens are found by their first or last letters instead
AFFIX_MIN = 6
TRANSLIT_DELETION_MIN = 6  # below, one edit after transliteration is too often another name


def token_keys(token: str) -> frozenset[str]:
    """Keys under which a listed token is filed and a query token looks: its transliterated
    spelling (variants of one romanisation), the token as written with each letter deleted in
    turn (any spelling one edit away, substitution, insertion, deletion or transposition, shares
    one), and for tokens of six letters or more the first and last three letters of the
    transliterated spelling (two edits in the middle, or a variant and a typo, leave one of
    them intact)."""
    key = transliterated(token)
    if len(token) <= 2:
        return frozenset({"=" + key, "~" + token})
    keys = {"=" + key}
    if len(token) <= DELETION_MAX:
        keys.update("~" + d for d in deletions(token))
        # and the transliterated spelling's: "popoff" is two edits from "popov" as written,
        # one after transliteration ("popof")
        if key != token and len(key) >= TRANSLIT_DELETION_MIN:
            keys.update("~" + d for d in deletions(key))
    if len(key) >= AFFIX_MIN:
        keys.update(("<" + key[:3], ">" + key[-3:]))
    return frozenset(keys)


@dataclass(frozen=True, slots=True)
class NormalisedName:
    """A name ready for scoring: its tokens in written order, their transliterated forms, and
    the positions of its surname (empty when not known)."""

    tokens: tuple[str, ...]
    translit: tuple[str, ...]
    surname: frozenset[int] = frozenset()

    @property
    def text(self) -> str:
        return " ".join(self.tokens)

    @property
    def weight(self) -> int:
        return sum(len(t) for t in self.tokens)


# Only particles whose consonants no common name shares (not sayyid: "sd" is also Said, Saad).
_PARTICLE_SKELETONS = {skeleton(p): len(p) for p in ("bin", "bint", "shaikh")}
# Titles by their written consonants (vowels dropped, h and w kept, which an abjad writes):
# only those whose consonants no common name shares.
# (not maulana: "mln" is also Milan)
_PARTICLE_CONSONANTS = {_written_consonants(p): len(p) for p in (
    "haji", "hajji", "alhaj", "alhajj", "mullah", "mawlana", "maulvi", "mawlawi", "sheikh",
    "shaykh")}


def normalise(name: str) -> NormalisedName:
    found, surname = name_parts(name)
    return NormalisedName(found, tuple(transliterated(t) for t in found), surname)
