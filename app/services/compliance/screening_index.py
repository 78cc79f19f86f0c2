"""An in-memory screening index over one sanctions list version, built once per process.

Blocking: a query is never compared with the whole list. Every distinct listed token is filed
under a few keys (app.domain.compliance.names.index_keys: the first two and three letters and
the last three of its transliterated form); a query token is scored with Jaro-Winkler
(rapidfuzz) only against the tokens filed under its own keys, and only names holding a matched
token become candidates. A candidate of two or more tokens must match two query tokens (when
the query has two), so a shared "Ali" or "Trading" alone does not pull in thousands of names.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz import process
from rapidfuzz.distance import JaroWinkler

from app.domain.compliance.matching import name_score
from app.domain.compliance.names import (
    index_keys,
    name_group,
    normalise,
    query_keys,
    transliterated,
)

TOKEN_CUTOFF = 0.88  # below this, two tokens are different words (typos score 0.9-0.97)
LENGTH_RATIO = 0.7  # Jaro-Winkler flatters a short token that is a prefix of a long one
SHORT_TOKEN = 3  # "li", "kim", "ali": fuzzy scores mean nothing this short, so exact only
TOKEN_CACHE = 100_000


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


@dataclass(slots=True)
class _Block:
    ids: list[int]
    raw: list[str]
    translit: list[str]


class ScreeningIndex:
    """Names and crypto addresses of one list version, ready to screen against."""

    def __init__(self, names: Iterable[ListedName], addresses: Iterable[ListedAddress]) -> None:
        self._vocab: dict[str, int] = {}
        self._raw: list[str] = []
        self._translit: list[str] = []
        keyed: dict[str, list[int]] = defaultdict(list)
        self._groups: dict[str, list[int]] = defaultdict(list)
        # (uid, display name, token ids, token lengths) per distinct (uid, tokens)
        self._names: list[tuple[int, str, tuple[int, ...], tuple[int, ...]]] = []
        self._multi: dict[int, list[int]] = defaultdict(list)
        self._single: dict[int, list[int]] = defaultdict(list)
        seen: set[tuple[int, tuple[str, ...]]] = set()
        for listed in names:
            tokens = normalise(listed.name).tokens
            if not tokens or (listed.uid, tokens) in seen:
                continue
            seen.add((listed.uid, tokens))
            ids = tuple(self._token_id(t, keyed) for t in tokens)
            slot = len(self._names)
            self._names.append((listed.uid, listed.name, ids, tuple(len(t) for t in tokens)))
            postings = self._multi if len(ids) > 1 else self._single
            for token_id in set(ids):
                postings[token_id].append(slot)
        # Each block is split by transliterated length: a query token is only compared with
        # tokens whose length the length-ratio rule lets through.
        by_length: dict[tuple[str, int], list[int]] = defaultdict(list)
        for key, token_ids in keyed.items():
            for token_id in token_ids:
                by_length[key, len(self._translit[token_id])].append(token_id)
        self._blocks: dict[tuple[str, int], _Block] = {key: _Block(ids, [self._raw[i] for i in ids],
                                    [self._translit[i] for i in ids])
                        for key, ids in by_length.items()}
        self._cache: dict[str, dict[int, float]] = {}
        self._addresses: dict[str, list[ListedAddress]] = defaultdict(list)
        for address in addresses:
            self._addresses[address.address.strip().lower()].append(address)

    def _token_id(self, token: str, keyed: dict[str, list[int]]) -> int:
        found = self._vocab.get(token)
        if found is not None:
            return found
        token_id = len(self._raw)
        self._vocab[token] = token_id
        self._raw.append(token)
        self._translit.append(transliterated(token))
        for key in index_keys(token):
            keyed[key].append(token_id)
        group = name_group(token)
        if group is not None:
            self._groups[group].append(token_id)
        return token_id

    @property
    def name_count(self) -> int:
        return len(self._names)

    def _similar_tokens(self, token: str) -> dict[int, float]:
        """Listed tokens similar to one query token (cached: first names and legal words
        recur across queries, and a batch re-screen repeats them thousands of times)."""
        found = self._cache.get(token)
        if found is None:
            if len(self._cache) >= TOKEN_CACHE:
                self._cache.clear()
            found = self._cache[token] = self._score_token(token)
        return found

    def _score_token(self, token: str) -> dict[int, float]:
        """Jaro-Winkler over the token's blocks only, on the plain and on the transliterated
        spelling, whichever is higher."""
        found: dict[int, float] = {}
        group = name_group(token)
        for token_id in self._groups.get(group, ()) if group else ():
            found[token_id] = 1.0
        translit = transliterated(token)
        size = len(translit)
        if size <= SHORT_TOKEN:
            lengths = range(size, size + 1)
        else:
            # One letter of slack: transliteration can change a length ("kh" → "h") while the
            # plain spellings still pass the length ratio.
            lengths = range(math.ceil(size * LENGTH_RATIO) - 1,
                            math.floor(size / LENGTH_RATIO) + 2)
        for key in query_keys(token):
            for length in lengths:
                block = self._blocks.get((key, length))
                if block is None:
                    continue
                if size <= SHORT_TOKEN:
                    for i, candidate in enumerate(block.translit):
                        if candidate == translit:
                            found[block.ids[i]] = 1.0
                    continue
                self._score_block(token, translit, block, found)
        return found

    @staticmethod
    def _score_block(token: str, translit: str, block: _Block, found: dict[int, float]) -> None:
        for query, choices in ((translit, block.translit), (token, block.raw)):
            for _, similarity, i in process.extract(
                    query, choices, scorer=JaroWinkler.normalized_similarity,
                    score_cutoff=TOKEN_CUTOFF, limit=None):
                shorter, longer = sorted((len(query), len(choices[i])))
                token_id = block.ids[i]
                if shorter >= LENGTH_RATIO * longer and similarity > found.get(token_id, 0):
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

    def screen_name(self, name: str, *, floor: float) -> list[NameHit]:
        """The best-scoring name of every listed entry scoring at least `floor`, best first."""
        query = normalise(name).tokens
        if not query:
            return []
        matches = [self._similar_tokens(t) for t in query]
        by_token: dict[int, list[tuple[int, float]]] = defaultdict(list)
        for qi, per_token in enumerate(matches):
            for token_id, similarity in per_token.items():
                by_token[token_id].append((qi, similarity))
        query_lengths = [len(t) for t in query]
        best: dict[int, NameHit] = {}
        for slot in self._candidates(matches):
            uid, display, ids, lengths = self._names[slot]
            pairs = [(similarity, qi, li) for li, token_id in enumerate(ids)
                     for qi, similarity in by_token.get(token_id, ())]
            score = name_score(query_lengths, lengths, pairs)
            if score >= floor and score > (best[uid].score if uid in best else 0.0):
                best[uid] = NameHit(uid, display, round(score, 4))
        return sorted(best.values(), key=lambda h: (-h.score, h.uid))

    def screen_address(self, address: str) -> list[ListedAddress]:
        """Exact, case-insensitive."""
        return list(self._addresses.get(address.strip().lower(), ()))
