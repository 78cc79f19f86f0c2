"""The active sanctions lists' screening indexes, and screening names and addresses on them.

Each list version's index (app.services.compliance.screening_index) is built on first use in a
process and kept; its entries' own dates of birth, nationalities, address countries and types
(app.domain.compliance.attributes) are kept beside it.

Every active list is screened (the SDN list and the Consolidated list), and each hit names its
list. A name that yields nothing to compare after transliteration, or only a lossy reading
(Han, kana), is a `possible` hit with reason `unscreenable_name`: a name the screener could not
read is never `clear`. The party's secondary attributes confirm or contradict each name hit.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.domain.compliance import attributes as attrs
from app.domain.compliance.matching import Decision, decide
from app.persistence.compliance_models import (
    SanctionsAddress,
    SanctionsEntry,
    SanctionsListVersion,
    SanctionsLocation,
    SanctionsName,
)
from app.services.compliance.countries import country_code
from app.services.compliance.lists import active_versions
from app.services.compliance.name_text import prepare
from app.services.compliance.screening_index import ListedAddress, ListedName, ScreeningIndex

_INDEXES: OrderedDict[int, ScreeningIndex] = OrderedDict()
# each list's active version, and the one a running re-screen may still use
_KEEP_INDEXES = 4


def _entry_facts(session: Session, version_id: int) -> dict[int, attrs.EntryFacts]:
    located: dict[int, set[str]] = {}
    for uid, country in session.execute(
            select(SanctionsLocation.uid, SanctionsLocation.country)
            .where(SanctionsLocation.version_id == version_id,
                   SanctionsLocation.country.is_not(None))):
        code = country_code(country)
        if code is not None:
            located.setdefault(uid, set()).add(code)
    facts: dict[int, attrs.EntryFacts] = {}
    for uid, sdn_type, remarks in session.execute(
            select(SanctionsEntry.uid, SanctionsEntry.sdn_type, SanctionsEntry.remarks)
            .where(SanctionsEntry.version_id == version_id)):
        years, dates = attrs.remark_births(remarks)
        nationalities = {c for c in map(country_code, attrs.remark_nationalities(remarks)) if c}
        facts[uid] = attrs.EntryFacts(sdn_type, years, dates, frozenset(nationalities),
                                      frozenset(located.get(uid, ())))
    return facts


def index_for(session: Session, version_id: int) -> ScreeningIndex:
    """The version's index, built on first use in this process and kept."""
    index = _INDEXES.get(version_id)
    if index is None:
        names = session.execute(select(SanctionsName.uid, SanctionsName.name)
                                .where(SanctionsName.version_id == version_id))
        addresses = session.execute(
            select(SanctionsAddress.uid, SanctionsAddress.currency, SanctionsAddress.address)
            .where(SanctionsAddress.version_id == version_id))
        index = ScreeningIndex((ListedName(u, n) for u, n in names),
                               (ListedAddress(u, c, a) for u, c, a in addresses),
                               facts=_entry_facts(session, version_id))
        _INDEXES[version_id] = index
        while len(_INDEXES) > _KEEP_INDEXES:
            _INDEXES.popitem(last=False)
    _INDEXES.move_to_end(version_id)
    return index


@dataclass(frozen=True, slots=True)
class ListIndex:
    """One active list version and its index."""

    source: str
    version_id: int
    index: ScreeningIndex


def list_indexes(session: Session, version_id: int | None = None) -> list[ListIndex]:
    """Every active list's index; `version_id` stands in for its own source's active version
    (a re-screen run screens against the version it was started for)."""
    versions = {v.source: v.version_id for v in active_versions(session)}
    if version_id is not None:
        chosen = session.get(SanctionsListVersion, version_id)
        if chosen is not None:
            versions[chosen.source] = version_id
    return [ListIndex(source, vid, index_for(session, vid)) for source, vid in versions.items()]


def _unscreenable(position: int, why: str) -> dict[str, Any]:
    return {"entry_uid": None, "matched_name": "unscreenable_name", "list": None,
            "list_version": None, "score": 0.0, "decision": Decision.POSSIBLE.value,
            "kind": "name", "reason": "unscreenable_name", "detail": why,
            "query": f"name[{position}]"}


def _name_hits(listed: ListIndex, settings: Settings, position: int, name: str,
               requested: attrs.Requested) -> list[dict[str, Any]]:
    match, possible = settings.sanctions_match_threshold, settings.sanctions_possible_threshold
    found = []
    for hit in listed.index.screen_name(prepare(name), floor=possible):
        named = decide(hit.score, match, possible, decisive=hit.decisive)
        decision, evidence = named, None
        facts = listed.index.facts.get(hit.uid)
        if facts is not None and not requested.empty:
            evidence = attrs.compare(requested, facts)
            decision = attrs.apply(named, evidence, name_at_match=hit.score >= match)
        found.append({"entry_uid": hit.uid, "matched_name": hit.matched_name,
                      "list": listed.source, "list_version": listed.version_id,
                      "score": hit.score, "decision": decision.value,
                      "name_decision": named.value, "kind": "name",
                      "query": f"name[{position}]", "breakdown": hit.breakdown,
                      **({"attributes": evidence.as_dict()} if evidence else {})})
    return found


def screen(indexes: list[ListIndex], settings: Settings, names: list[str],
           addresses: list[str], requested: attrs.Requested | None = None
           ) -> list[dict[str, Any]]:
    """Hits at `possible` or above, the best one per listed entry of each list, best first."""
    requested = requested or attrs.Requested()
    best: dict[tuple[str | None, int | None, str], dict[str, Any]] = {}
    for position, name in enumerate(names):
        prepared = prepare(name)
        if not prepared.name.tokens:
            best[None, None, f"name[{position}]"] = _unscreenable(
                position, "no letters left to compare after transliteration")
            continue
        found = [h for listed in indexes
                 for h in _name_hits(listed, settings, position, name, requested)]
        if prepared.lossy and not found:
            best[None, None, f"name[{position}]"] = _unscreenable(
                position, "written in a script whose romanisation is not the list's")
        for hit in found:
            key = (hit["list"], hit["entry_uid"], "")
            if key not in best or hit["score"] > best[key]["score"]:
                best[key] = hit
    for address in addresses:
        for listed in indexes:
            for found_address in listed.index.screen_address(address):
                best[listed.source, found_address.uid, ""] = {
                    "entry_uid": found_address.uid, "matched_name": found_address.address,
                    "list": listed.source, "list_version": listed.version_id, "score": 1.0,
                    "decision": Decision.MATCH.value, "kind": "address",
                    "currency": found_address.currency, "query": address}
    return sorted(best.values(), key=lambda h: (-h["score"], h["entry_uid"] or 0))
