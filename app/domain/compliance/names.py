"""Name normalisation for sanctions screening (DOMAIN.md §4).

Every query and every listed name goes through the same steps, in this order:

1. Latin script: the caller transliterates (app.services.compliance.name_text, with
   OpenSanctions' rigour and normality); here, case and accents are folded.
2. Legal forms: the caller rewrites long and local forms to one generic form first
   ("Limited Liability Company", "OOO", "GmbH" → "llc"); here every legal form is dropped,
   since it carries no identity ("X Trading Co." and "X TRADING COMPANY LTD" are one name).
3. Honorifics and particles (Haji, Shaikh, Mr, bin, ibn, al, el...) are optional.
4. What is left, in the order written, are the name's tokens; the tokens before a comma are the
   surname ("KHOROSHEV, Dmitry Yuryevich").
If nothing but legal forms or particles remains, they are kept: "LTD." is still a name. So is a
particle or legal form that is all of the surname or all of the given names ("SAID, Khan",
"PAO, Yu", "IBRAHIM, Haji"): there it is the name, not a title.

Optional tokens (legal forms, connectives, particles) are not dropped: they are kept beside the
name's tokens, to be matched if present and never required (app.domain.compliance.matching).
"Haji KHAN" pairs its Haji with the listed "KHAN, Haji Mohammad", and a query's "Sid" (سيد)
pairs with a listed "Sayyed" that is optional there; an absent one costs nothing.

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
    "nv", "srl", "spa", "pty", "fze", "fzco", "fzc", "sarl", "pte", "pvt", "bhd", "sdn", "ltda",
    "cia",
    "lp", "kg", "oy", "ab", "doo", "ead", "jv", "incorporated", "sas", "sae", "spzoo", "pllc",
    "fzllc", "ltdco", "soe", "coop", "cv", "rl", "tov", "eood",
    # the words of the long forms that are written out ("Public Joint Stock Company", "Open
    # Joint-Stock Company", "Tovarystvo z Obmezhenoyu Vidpovidalnistyu")
    "joint", "stock", "public", "open", "closed", "private", "liability", "kompaniya",
    "tovarystvo", "obmezhenoyu", "vidpovidalnistyu",
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
# Articles and "son of" never are a name of their own, even when they are all of one side.
_ARTICLES = frozenset({"al", "el", "ul", "bin", "ibn", "bint", "bn"})

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
# The Russian ye at the start of a word, written ye or e: Yelena/Elena, Yevgeny/Evgeny, Yerevan.
_INITIAL_YE = re.compile(r"^ye")
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


def noise_kind(token: str) -> str | None:
    """"legal", "connective" or "particle" for a token that carries no identity of its own, in
    any of its romanisations ("korporatsiya", "phze" for FZE, "dzhsc" for JSC), or a word of
    six letters or more one edit from one ("sheiqh", "limitid"); None for a name's token."""
    if token in CONNECTIVES:
        return "connective"
    if token in PARTICLES:
        return "particle"
    if token in LEGAL_FORMS:
        return "legal"
    key = transliterated(token)
    # y for i as well, before the Russian ё rule reads "tyo" as "te" ("korporatyon")
    kind = _NOISE_SPELLINGS.get(key) or _NOISE_SPELLINGS.get(transliterated(token.replace("y",
                                                                                        "i")))
    if kind is None and len(key) >= LEGAL_SPELLING_MIN:
        # A short legal form respelt as transliteration writes it (ФЗЕ read back as "phze",
        # ПТИ as "ptii"): an optional token, so a name that spells alike loses nothing.
        kind = _LEGAL_SPELLINGS.get(key)
    if kind is None and len(token) >= FUZZY_NOISE_MIN:
        kind = next((_NOISE_DELETIONS[d] for d in deletions(key) if d in _NOISE_DELETIONS), None)
    return kind


def is_noise(token: str) -> bool:
    """A legal form, connective or particle (noise_kind)."""
    return noise_kind(token) is not None


def name_parts(name: str) -> tuple[tuple[str, ...], frozenset[int]]:
    """The identity-bearing tokens of a (Latin-script) name in their written order, and the
    positions of its surname: the tokens before a comma, when the name has one."""
    found, surname, _ = _parts(name)
    return found, surname


def _parts(name: str) -> tuple[tuple[str, ...], frozenset[int], tuple[str, ...]]:
    surname_text, comma, _ = name.partition(",")
    surname_count = len(_plain(surname_text)) if comma else 0
    found = _plain(name)
    last = len(found) - 1
    noise = [is_noise(t) or (t in INNER_PARTICLES and 0 < i < last) for i, t in enumerate(found)]
    if comma:
        # A side of the comma made only of particles or legal forms is a name there: "SAID,
        # Khan" is Khan Said, "IBRAHIM, Haji" is a Haji Ibrahim, "PAO, Yu" is a Pao; never an
        # article alone, nor a company's legal form after the comma ("CARGO FRET, SPRL").
        for side in (range(surname_count), range(surname_count, len(found))):
            if side and all(noise[i] for i in side) and (
                    side.start == 0 or all(found[i] in PARTICLES for i in side)):
                for i in side:
                    noise[i] = found[i] in _ARTICLES or found[i] in CONNECTIVES
    kept = [i for i in range(len(found)) if not noise[i]]
    if not kept:
        kept = [i for i, t in enumerate(found) if t not in PARTICLES] or list(range(len(found)))
    surname = frozenset(n for n, i in enumerate(kept) if i < surname_count)
    # A surname wholly made of particles ("AL-ASAD, Bashar" keeps "asad") cannot be empty,
    # and a name whose comma splits off everything is treated as having no known surname.
    if len(surname) == len(kept):
        surname = frozenset()
    optional = tuple(found[i] for i in range(len(found)) if i not in set(kept))
    return tuple(found[i] for i in kept), surname, optional


def tokens(name: str) -> tuple[str, ...]:
    """The identity-bearing tokens of a name, in their original order."""
    return name_parts(name)[0]


def sorted_form(name: str) -> str:
    """Tokens sorted, so "Dmitry Khoroshev" and "KHOROSHEV, Dmitry" read the same."""
    return " ".join(sorted(tokens(name)))


@lru_cache(maxsize=65536)
def transliterated(token: str) -> str:
    """One spelling for common romanisation variants: Dmitriy/Dmitrii/Dmitry → "dmitri"."""
    token = _INITIAL_YE.sub("e", _YO.sub("e", token))
    for pattern, replacement in _TRANSLIT:
        token = token.replace(pattern, replacement)
    return _OFF.sub("ov", _DOUBLED.sub(r"\1", token))


def _kind_of(word: str) -> str:
    return ("connective" if word in CONNECTIVES else "particle" if word in PARTICLES
            else "legal")


# Only the longer words: a two- or three-letter spelling is too often a name of its own.
_NOISE_SPELLINGS = {transliterated(t): _kind_of(t) for t in NOISE_TOKENS if len(t) >= 5}
# Legal forms of three letters or more by their transliterated spelling; not particles
# ("syed" and "said" spell alike, and Said is a name).
LEGAL_SPELLING_MIN = 3
_LEGAL_SPELLINGS = {key: "legal" for t in LEGAL_FORMS
                    if len(key := transliterated(t)) >= LEGAL_SPELLING_MIN}
FUZZY_NOISE_MIN = 6


# Latin spellings Greek cannot write apart: it has no sh (sigma for it), writes ch and kh as
# chi and w as omicron-upsilon, so a listed Shawqi reads back from Greek as "sauki".
_GREEK_LOSSES = re.compile(r"sh|ch|kh|w")
_GREEK_LOSS = {"sh": "s", "ch": "h", "kh": "h", "w": "u"}


def greek_key(token: str) -> str:
    """The token as a Latin spelling read back from Greek would spell it, transliterated."""
    if _GREEK_LOSSES.search(token) is None:
        return transliterated(token)
    return transliterated(_GREEK_LOSSES.sub(lambda m: _GREEK_LOSS[m.group()], token))


@lru_cache(maxsize=65536)
def skeleton(token: str) -> str:
    """The consonants of the token as an abjad writes them: no vowels, and no w, y or h,
    which Arabic writes with the letters it also uses for vowels (و ي) or drops (ه ح are
    often not romanised); no p or v either, which it writes b and f; one letter for the sounds
    an abjad writes alike (ch/sh, j/g/gh/zh, x/ks)."""
    sounds = _ABJAD_SOUNDS.sub(lambda m: _ABJAD_SOUND_LETTER[m.group()], token)
    consonants = _ABJAD_DROPPED.sub("", sounds.translate(_ABJAD_LETTERS))
    return _DOUBLED.sub(r"\1", consonants)


def abjad_skeletons(token: str) -> tuple[str, ...]:
    """The skeletons of a token read from an abjad: as read, and with a doubled letter read
    once, since the script writes one letter for two alike (its shadda is not written): تتشد
    reads "ttshd", a t and the tch of Tchad, but بوتتشي "buttshi" is the t and ch of Botache."""
    once = _DOUBLED.sub(r"\1", token)
    return (skeleton(token),) if once == token else (skeleton(token), skeleton(once))


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
    """A name read from an abjad, with the tokens that are particles or titles with their
    vowels unwritten made optional, unless nothing else remains."""
    kept = tuple(t for t in name.tokens if not is_abjad_particle(t))
    if not kept or len(kept) == len(name.tokens):
        return name
    dropped = tuple(t for t in name.tokens if is_abjad_particle(t))
    return NormalisedName(kept, tuple(transliterated(t) for t in kept),
                          optional=(*name.optional, *dropped))


def name_group(token: str) -> str | None:
    """The group of a frequent many-spellings name (Muhammad/Mohammed/Mohamed...), or None."""
    return _CANONICAL.get(transliterated(token))


def deletions(key: str) -> frozenset[str]:
    """The key and every spelling of it with one letter deleted: two spellings one edit
    (substitution, insertion, deletion, adjacent transposition) apart share one of these."""
    return frozenset({key, *(key[:i] + key[i + 1:] for i in range(len(key)))})


_NOISE_DELETIONS = {d: _kind_of(word) for word in sorted(NOISE_TOKENS)
                    if len(word) >= FUZZY_NOISE_MIN for d in deletions(transliterated(word))}
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
    # legal forms, connectives and particles: matched if present, never required
    optional: tuple[str, ...] = ()

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
    found, surname, optional = _parts(name)
    return NormalisedName(found, tuple(transliterated(t) for t in found), surname, optional)


def counts_when_paired(token: str) -> bool:
    """An optional token that is evidence when both names have it: a title or particle
    ("Haji KHAN" and "KHAN, Haji Mohammad"), not a legal form or connective, which any two
    companies share."""
    return noise_kind(token) == "particle" or is_abjad_particle(token)
