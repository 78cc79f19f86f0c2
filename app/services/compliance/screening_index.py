"""An in-memory screening index over one sanctions list version, built once per process.

Names are prepared (app.services.compliance.name_text) the same way on both sides. Blocking: a
query is never compared with the whole list. Every distinct listed token is filed under keys
(app.domain.compliance.names.index_keys): its transliterated spelling with each letter deleted
in turn, which any spelling one edit away shares, and for long tokens its first and last three
letters, which a spelling two edits away in the middle or at one end still shares. A query
written in an abjad also looks up listed tokens by consonant skeleton. A query token is scored
(rapidfuzz) only against the tokens filed under its own keys, and only names holding a matched
token become candidates; a candidate of two or more tokens must match two query tokens (when
the query has two), so a shared "Ali" or "Trading" alone does not pull in thousands of names.

Words written together or apart ("AEROCARIBBEAN" / "Aero Caribbean"): a query of two to four
tokens is also screened with each adjacent pair joined and with all of them joined (the joined
word must then be one edit at most from the listed one, as written), and (up to eight tokens)
with any of its words split in two where both halves are listed words ("MICARRO").

A Greek query's tokens also look up listed tokens as Greek would write them
(app.domain.compliance.names.greek_key): s for sh, h for ch, u for w, so "sauki" read from Greek
finds Shawqi.

An abjad query's tokens of one or two consonants are also looked up by their consonants with h
kept (app.domain.compliance.names.short_skeleton): "Ho" written حو has no skeleton at all.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz.distance import OSA, JaroWinkler, Levenshtein

from app.domain.compliance.attributes import EntryFacts
from app.domain.compliance.matching import NameScore, name_score
from app.domain.compliance.names import (
    NormalisedName,
    abjad_skeletons,
    counts_when_paired,
    deletions,
    greek_key,
    is_noise,
    name_group,
    short_skeleton,
    skeleton,
    token_keys,
    transliterated,
)
from app.services.compliance.name_text import Prepared, prepare

TOKEN_CUTOFF = 0.88  # below this, two tokens are different words (typos score 0.9-0.97)
LENGTH_RATIO = 0.7  # Jaro-Winkler flatters a short token that is a prefix of a long one
SHORT_TOKEN = 3  # "kim", "ali": one edit in so few letters is a weak likeness
SHORT_EDIT = 0.7  # the similarity of two short tokens one substitution apart
SKELETON_SIMILARITY = 0.93  # the same consonants, from a script that writes no short vowels
SKELETON_NEAR = 0.9  # one consonant apart
LOOSE_CONSONANTS = 0.8  # consonant similarity of two otherwise unpaired tokens of a candidate
SKELETON_LOOSE = 0.86
# A token of so few consonants written in an abjad has too short a skeleton to find it by
# ("Ho" is حو, skeleton empty); it is looked up by its consonants with h kept instead.
FEW_CONSONANTS = 2
SPLIT_MAX_TOKENS = 8
TOKEN_CACHE = 100_000
JOIN_MAX_TOKENS = 4
JOINED_FLOOR = 0.93
SPLIT_MIN = 2  # each half of a split word, a listed word ("MICARRO", "MI CARRO")
SPLIT_NOISE_MIN = 2
ONE_EDIT = 0.9  # a token of four letters or more one edit from a listed token
GREEK_SIMILARITY = 0.95  # the same letters as Greek writes them (s for sh, u for w)


@dataclass(frozen=True, slots=True)
class ListedName:
    uid: int
    name: str


@dataclass(frozen=True, slots=True)
class ListedAddress:
    uid: int
    currency: str
    address: str


@dataclass(frozen=True, slots=True)
class NameHit:
    uid: int
    matched_name: str
    score: float
    decisive: bool = True
    breakdown: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Slot:
    uid: int
    display: str
    ids: tuple[int, ...]
    lengths: tuple[int, ...]
    surname: frozenset[int]
    optional_from: int  # ids from here on are the name's optional tokens


def _joined(name: NormalisedName) -> list[tuple[NormalisedName, int]]:
    """The name with each adjacent pair of tokens written as one, and with all of them written
    as one, each with the position of the joined token."""
    found = name.tokens
    if not 2 <= len(found) <= JOIN_MAX_TOKENS:
        return []
    variants = []
    for i in range(len(found) - 1):
        joined = (*found[:i], found[i] + found[i + 1], *found[i + 2:])
        surname = frozenset(p if p <= i else p - 1 for p in name.surname)
        variants.append((NormalisedName(joined, tuple(transliterated(t) for t in joined),
                                        surname if len(surname) < len(joined) else frozenset(),
                                        name.optional),
                         i))
    if len(found) > 2:  # every word run together ("LockBitSupp")
        whole = "".join(found)
        variants.append((NormalisedName((whole,), (transliterated(whole),),
                                        optional=name.optional), 0))
    return variants


def _split(name: NormalisedName, position: int, at: int) -> NormalisedName:
    token = name.tokens[position]
    tokens = (*name.tokens[:position], token[:at], token[at:], *name.tokens[position + 1:])
    # Normalised again: the halves may be a legal form ("charitable organization").
    return prepare(" ".join(tokens)).name


class ScreeningIndex:
    """Names and crypto addresses of one list version, ready to screen against."""

    def __init__(self, names: Iterable[ListedName], addresses: Iterable[ListedAddress], *,
                 facts: dict[int, EntryFacts] | None = None) -> None:
        # What each entry states about itself (date of birth, nationality, type), by uid.
        self.facts: dict[int, EntryFacts] = facts or {}
        self._vocab: dict[str, int] = {}
        self._raw: list[str] = []
        self._translit: list[str] = []
        self._keyed: dict[str, list[int]] = defaultdict(list)
        self._skeletons: dict[str, list[int]] = defaultdict(list)
        self._consonants: list[str] = []
        self._short_consonants: dict[str, list[int]] = defaultdict(list)
        self._groups: dict[str, list[int]] = defaultdict(list)
        self._greek: dict[str, list[int]] = defaultdict(list)
        self._counts_paired: dict[int, bool] = {}
        self._words: set[str] = set()  # the names' own tokens, not their optional ones
        self._slots: list[_Slot] = []
        self._multi: dict[int, list[int]] = defaultdict(list)
        self._single: dict[int, list[int]] = defaultdict(list)
        seen: set[tuple[int, tuple[str, ...]]] = set()
        self._listed_names = 0
        for listed in names:
            normalised = prepare(listed.name).name
            if not normalised.tokens or (listed.uid, normalised.tokens) in seen:
                continue
            self._listed_names += 1
            seen.add((listed.uid, normalised.tokens))
            self._add_slot(listed.uid, listed.name, normalised)
        self._cache: dict[tuple[str, bool, bool], dict[int, float]] = {}
        self._addresses: dict[str, list[ListedAddress]] = defaultdict(list)
        for address in addresses:
            self._addresses[address.address.strip().lower()].append(address)

    def _add_slot(self, uid: int, display: str, name: NormalisedName) -> None:
        ids = tuple(self._token_id(t) for t in name.tokens)
        self._words.update(name.tokens)
        optional = tuple(self._token_id(t) for t in name.optional)
        for token, token_id in zip(name.optional, optional, strict=True):
            if token_id not in self._counts_paired:
                self._counts_paired[token_id] = counts_when_paired(token)
        slot = len(self._slots)
        self._slots.append(_Slot(uid, display, ids + optional,
                                 tuple(len(t) for t in (*name.tokens, *name.optional)),
                                 name.surname, len(ids)))
        # Candidates come through the name's own tokens only: an optional token is scored
        # when its name is a candidate, and a shared "LTD" or "Haji" pulls in none.
        postings = self._multi if len(ids) > 1 else self._single
        for token_id in set(ids):
            postings[token_id].append(slot)

    def _token_id(self, token: str) -> int:
        found = self._vocab.get(token)
        if found is not None:
            return found
        token_id = len(self._raw)
        self._vocab[token] = token_id
        self._raw.append(token)
        self._translit.append(transliterated(token))
        for key in token_keys(token):
            self._keyed[key].append(token_id)
        consonants = skeleton(token)
        self._consonants.append(consonants)
        if len(consonants) >= 2:
            for key in deletions(consonants) if len(consonants) >= 4 else (consonants,):
                self._skeletons[key].append(token_id)
        if 0 < len(short := short_skeleton(token)) <= FEW_CONSONANTS:
            self._short_consonants[short].append(token_id)
        group = name_group(token)
        if group is not None:
            self._groups[group].append(token_id)
        # only tokens Greek would write otherwise: the rest its transliterated key finds
        if (written_in_greek := greek_key(token)) != self._translit[token_id]:
            self._greek[written_in_greek].append(token_id)
        return token_id

    @property
    def name_count(self) -> int:
        """Distinct (entry, name) pairs indexed."""
        return self._listed_names

    def _similar_tokens(self, token: str, abjad: bool, greek: bool = False) -> dict[int, float]:
        """Listed tokens similar to one query token (cached: first names and legal words
        recur across queries, and a batch re-screen repeats them thousands of times)."""
        found = self._cache.get((token, abjad, greek))
        if found is None:
            if len(self._cache) >= TOKEN_CACHE:
                self._cache.clear()
            found = self._cache[token, abjad, greek] = self._score_token(token, abjad, greek)
        return found

    def _score_token(self, token: str, abjad: bool, greek: bool) -> dict[int, float]:
        found: dict[int, float] = {}
        group = name_group(token)
        for token_id in self._groups.get(group, ()) if group else ():
            found[token_id] = 1.0
        translit = transliterated(token)
        size = len(translit)
        candidates: set[int] = set()
        for key in token_keys(token):
            candidates.update(self._keyed.get(key, ()))
        if abjad:
            self._score_consonants(token, found)
        if greek:
            self._score_as_greek(token, found)
        low, high = _length_range(size)
        raw_low, raw_high = _length_range(len(token))
        for token_id in candidates:
            listed, raw = self._translit[token_id], self._raw[token_id]
            if not (low <= len(listed) <= high or raw_low <= len(raw) <= raw_high):
                continue
            if len(token) <= SHORT_TOKEN and len(raw) <= SHORT_TOKEN:
                similarity = _short_similarity(translit, listed)
            else:
                similarity = max(JaroWinkler.normalized_similarity(translit, listed),
                                 JaroWinkler.normalized_similarity(token, raw))
                if similarity < ONE_EDIT and (OSA.distance(translit, listed, score_cutoff=1) <= 1
                                              or OSA.distance(token, raw, score_cutoff=1) <= 1):
                    similarity = ONE_EDIT
                if similarity < TOKEN_CUTOFF:
                    continue
            if similarity > found.get(token_id, 0.0):
                found[token_id] = similarity
        return found

    def _score_as_greek(self, token: str, found: dict[int, float]) -> None:
        """A token read from Greek against listed tokens as Greek writes them: it has no sh
        and writes ch as it writes h, so "sauki" is Shawqi."""
        for token_id in self._greek.get(greek_key(token), ()):
            if found.get(token_id, 0.0) < GREEK_SIMILARITY:
                found[token_id] = GREEK_SIMILARITY

    def _score_consonants(self, token: str, found: dict[int, float]) -> None:
        """An abjad token against listed tokens by consonants: exactly the same ones, or one
        consonant apart in a skeleton of four or more; with and without an attached article;
        a short token by its consonants with h kept, loosely."""
        if 0 < len(short := short_skeleton(token)) <= FEW_CONSONANTS:
            for token_id in self._short_consonants.get(short, ()):
                if found.get(token_id, 0.0) < SKELETON_LOOSE:
                    found[token_id] = SKELETON_LOOSE
        forms = list(abjad_skeletons(token))
        if token.startswith("al") and len(token) > 4:
            forms.append(skeleton(token[2:]))
        for consonants in forms:
            if len(consonants) < 2:
                continue
            keys = deletions(consonants) if len(consonants) >= 4 else (consonants,)
            for key in keys:
                for token_id in self._skeletons.get(key, ()):
                    listed = self._consonants[token_id]
                    similarity = (SKELETON_SIMILARITY if listed == consonants else
                                  SKELETON_NEAR if len(listed) >= 4 and OSA.distance(
                                      listed, consonants, score_cutoff=1) <= 1 else 0.0)
                    if similarity > found.get(token_id, 0.0):
                        found[token_id] = similarity

    def _candidates(self, matches: list[dict[int, float]]) -> set[int]:
        if len(matches) == 1:
            return {slot for token_id in matches[0]
                    for slot in (*self._multi.get(token_id, ()), *self._single.get(token_id, ()))}
        counts: Counter[int] = Counter()
        for per_token in matches:
            counts.update(set().union(*(self._multi.get(t, ()) for t in per_token)))
        chosen = {slot for slot, count in counts.items() if count >= 2}
        for per_token in matches:
            for token_id in per_token:
                chosen.update(self._single.get(token_id, ()))
        return chosen

    def screen_name(self, name: str | Prepared, *, floor: float) -> list[NameHit]:
        """The best-scoring name of every listed entry scoring at least `floor`, best first;
        each hit with the breakdown of how its tokens were paired."""
        prepared = prepare(name) if isinstance(name, str) else name
        if not prepared.name.tokens:
            return []
        best: dict[int, NameHit] = {}
        self._screen(prepared.name, prepared.abjad, floor, best, joined=None,
                     readings=dict(prepared.readings), greek=prepared.greek)
        for query, position in _joined(prepared.name):
            self._screen(query, prepared.abjad, max(floor, JOINED_FLOOR), best, joined=position,
                         readings={})
        for query in self._splits(prepared.name):
            self._screen(query, prepared.abjad, floor, best, joined=None, readings={})
        return sorted(best.values(), key=lambda h: (-h.score, h.uid))

    def _screen(self, query: NormalisedName, abjad: bool, floor: float,
                best: dict[int, NameHit], *, joined: int | None,
                readings: dict[int, str], greek: bool = False) -> None:
        required = len(query.tokens)
        everything = (*query.tokens, *query.optional)
        matches = [self._similar_tokens(t, abjad, greek) for t in everything]
        for position, reading in readings.items():
            other = self._similar_tokens(reading, abjad, greek)
            matches[position] = {k: max(v, matches[position].get(k, 0.0))
                                 for k, v in (*matches[position].items(), *other.items())}
        by_token: dict[int, list[tuple[int, float]]] = defaultdict(list)
        for qi, per_token in enumerate(matches):
            for token_id, similarity in per_token.items():
                by_token[token_id].append((qi, similarity))
        query_lengths = [len(t) for t in everything]
        query_optional = frozenset(range(required, len(everything)))
        query_counts = [qi < required or counts_when_paired(t) for qi, t in enumerate(everything)]
        for slot_no in self._candidates(matches[:required]):
            slot = self._slots[slot_no]
            # Two optional tokens pair only where both are titles or particles: two legal
            # forms alike say nothing (see _Slot and app.domain.compliance.matching).
            pairs = [(similarity, qi, li) for li, token_id in enumerate(slot.ids)
                     for qi, similarity in by_token.get(token_id, ())
                     if qi < required or li < slot.optional_from
                     or (query_counts[qi] and self._counts_paired[token_id])]
            if abjad:
                pairs.extend(self._loose_consonants(query, slot, pairs))
            scored = name_score(query_lengths, slot.lengths, pairs, slot.surname,
                                query_optional=query_optional,
                                listed_optional=frozenset(range(slot.optional_from,
                                                                len(slot.ids))))
            score = round(scored.score, 4)
            if joined is not None and score >= floor \
                    and not self._joined_alike(query, slot, scored, joined):
                continue
            held = best.get(slot.uid)
            if score >= floor and (held is None or (score, scored.decisive)
                                   > (held.score, held.decisive)):
                best[slot.uid] = NameHit(slot.uid, slot.display, score, scored.decisive,
                                         self._breakdown(query, slot, scored))

    def _loose_consonants(self, query: NormalisedName, slot: _Slot,
                          pairs: list[tuple[float, int, int]]) -> list[tuple[float, int, int]]:
        """Tokens of an abjad query left unpaired, against the candidate's unpaired tokens by
        consonants, loosely: the script leaves out more than vowels (e, o, p, v, g, ch)."""
        paired_q = {qi for _, qi, _ in pairs}
        paired_l = {li for _, _, li in pairs}
        found = []
        for qi, token in enumerate(query.tokens):
            ours, short = skeleton(token), short_skeleton(token)
            if qi in paired_q or not short:
                continue
            for li, token_id in enumerate(slot.ids):
                theirs = self._consonants[token_id]
                # a lone consonant ("li" for Louie) pairs only with the same one; none at all
                # ("ihia" for Yahya), by the consonants with h kept
                if min(len(ours), len(theirs)) < 2:
                    alike = ((bool(ours) and ours == theirs)
                             or short == short_skeleton(self._raw[token_id]))
                else:
                    alike = JaroWinkler.normalized_similarity(ours, theirs) >= LOOSE_CONSONANTS
                if li not in paired_l and alike:
                    found.append((SKELETON_LOOSE, qi, li))
        return found

    def _joined_alike(self, query: NormalisedName, slot: _Slot, scored: NameScore,
                      joined: int | None) -> bool:
        """Words written together must be alike as written, one edit at most: after
        transliteration "li yang" written as one is "liang", a name of its own."""
        if not scored.complete:
            return False
        return all(OSA.distance(query.tokens[qi], self._raw[slot.ids[li]], score_cutoff=1) <= 1
                   for qi, li, _ in scored.pairs if qi == joined)

    def _splits(self, name: NormalisedName) -> list[NormalisedName]:
        """The query with one of its tokens split in two where both halves are listed tokens
        as written, or legal forms ("AEROCARIBBEAN" against "AERO CARIBBEAN",
        "COMPANIAAGROINVERSORA" against "COMPANIA AGROINVERSORA")."""
        if len(name.tokens) > SPLIT_MAX_TOKENS:
            return []
        return [_split(name, position, at) for position, token in enumerate(name.tokens)
                for at in range(SPLIT_MIN, len(token) - SPLIT_MIN + 1)
                if self._known_word(token[:at]) and self._known_word(token[at:])]

    def _known_word(self, text: str) -> bool:
        # A legal form or particle is no listed token (it was dropped), but is a word; not one
        # of two letters, which would split off and drop what ends a name ("Cole": co, le).
        return text in self._words or (len(text) > SPLIT_NOISE_MIN and is_noise(text))

    def _breakdown(self, query: NormalisedName, slot: _Slot, scored: NameScore
                   ) -> dict[str, Any]:
        paired_q = {qi for qi, _, _ in scored.pairs}
        paired_l = {li for _, li, _ in scored.pairs}
        everything = (*query.tokens, *query.optional)
        return {
            "rule": scored.rule, "complete": scored.complete, "decisive": scored.decisive,
            "surname_matched": scored.surname_matched,
            "tokens": [{"query": everything[qi], "listed": self._raw[slot.ids[li]],
                        "similarity": round(similarity, 4),
                        "how": _how(everything[qi], self._raw[slot.ids[li]]),
                        "optional": qi >= len(query.tokens) or li >= slot.optional_from}
                       for qi, li, similarity in scored.pairs],
            "unmatched_query": [t for i, t in enumerate(query.tokens) if i not in paired_q],
            "unmatched_listed": [self._raw[t] for i, t in enumerate(slot.ids)
                                 if i not in paired_l and i < slot.optional_from],
        }

    def screen_address(self, address: str) -> list[ListedAddress]:
        """Exact, case-insensitive."""
        return list(self._addresses.get(address.strip().lower(), ()))


def _length_range(size: int) -> tuple[int, int]:
    # One letter of slack: transliteration can change a length ("kh" → "h").
    return math.ceil(size * LENGTH_RATIO) - 1, math.floor(size / LENGTH_RATIO) + 1


def _short_similarity(query: str, listed: str) -> float:
    if query == listed:
        return 1.0
    if len(query) == len(listed) >= SHORT_TOKEN and Levenshtein.distance(query, listed) == 1:
        return SHORT_EDIT
    return 0.0


def _how(query: str, listed: str) -> str:
    if query == listed:
        return "exact"
    if transliterated(query) == transliterated(listed):
        return "transliteration"
    group = name_group(query)
    if group is not None and group == name_group(listed):
        return "name_variant"
    if skeleton(query) == skeleton(listed):
        return "consonants"
    return "fuzzy"
