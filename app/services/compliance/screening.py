"""Sanctions screening of a party's names and crypto addresses (DOMAIN.md §4).

A party is screened as its subject: every name and address ever registered for it (through the
screening API or its KYC case), plus the party id itself as an address, since settlement
parties are often chain addresses. A screening names each hit's entry uid, the matched listed
name, the list version, the score and the decision; the query names themselves are kept only
sealed on the subject. A hit the party's previous screening did not have is published as
`sanctions.hit` on compliance.results.v1.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from app.config import Settings
from app.domain.compliance.matching import Decision, decide
from app.domain.errors import Conflict, InvalidInput, NotFound
from app.domain.parties import check_account
from app.messaging.topology import COMPLIANCE_RESULTS
from app.persistence.compliance_models import (
    SanctionsAddress,
    SanctionsName,
    Screening,
    ScreeningSubject,
)
from app.persistence.models import new_id
from app.services.compliance.lists import active_version
from app.services.compliance.pii import PiiCipher, pii_cipher
from app.services.compliance.screening_index import ListedAddress, ListedName, ScreeningIndex
from app.services.outbox import record_event

MAX_NAMES = 20
MAX_ADDRESSES = 20
_ADDRESS = re.compile(r"^[A-Za-z0-9:]{4,200}$")
_INDEXES: OrderedDict[int, ScreeningIndex] = OrderedDict()
_KEEP_INDEXES = 2  # the active version, and the one a running re-screen may still use


@dataclass(frozen=True, slots=True)
class Requested:
    screening_id: str
    created: bool


def _subject_context(party: str) -> str:
    return f"screening_subject:{party}"


def subject_names(subject: ScreeningSubject, cipher: PiiCipher) -> list[str]:
    if subject.names_sealed is None:
        return []
    names = cipher.open(subject.names_sealed, context=_subject_context(subject.party),
                        key_id=subject.pii_key_id)
    return [str(n) for n in names]


def register_subject(session: Session, cipher: PiiCipher, party: str, names: list[str],
                     addresses: list[str]) -> ScreeningSubject:
    """Add names and addresses to what the party is screened as (a union, never a removal)."""
    session.execute(insert(ScreeningSubject).values(party=party, name_count=0, addresses=[])
                    .on_conflict_do_nothing(index_elements=[ScreeningSubject.party]))
    subject = session.get(ScreeningSubject, party, with_for_update=True, populate_existing=True)
    assert subject is not None
    known = subject_names(subject, cipher)
    merged = list(dict.fromkeys([*known, *names]))[:MAX_NAMES]
    if merged != known:
        subject.names_sealed = cipher.seal(merged, context=_subject_context(party))
        subject.pii_key_id, subject.name_count = cipher.key_id, len(merged)
    subject.addresses = list(dict.fromkeys([*subject.addresses, *addresses]))[:MAX_ADDRESSES]
    return subject


def _clean(party: str, names: list[str], addresses: list[str]) -> tuple[str, list[str],
                                                                         list[str]]:
    party = check_account(party, "party")
    names = [" ".join(n.split()) for n in names if n and n.strip()]
    if len(names) > MAX_NAMES or any(len(n) > 200 for n in names):
        raise InvalidInput(f"at most {MAX_NAMES} names of at most 200 characters",
                           code="invalid_names", field="names")
    cleaned = [a.strip().lower() for a in addresses]
    if len(cleaned) > MAX_ADDRESSES or not all(_ADDRESS.match(a) for a in cleaned):
        raise InvalidInput(f"at most {MAX_ADDRESSES} addresses of 4-200 letters and digits",
                           code="invalid_addresses", field="addresses")
    return party, names, cleaned


def request_screening(session: Session, cipher: PiiCipher, *, party: str, names: list[str],
                      addresses: list[str], screening_id: str | None = None,
                      source: str = "api") -> Requested:
    """Register what to screen and store a pending screening; the worker runs it."""
    party, names, addresses = _clean(party, names, addresses)
    # An HMAC, not a plain hash: a fingerprint of personal data must not be guessable.
    fingerprint = cipher.fingerprint({"party": party, "names": names, "addresses": addresses})
    screening_id = screening_id or new_id()
    inserted = session.execute(
        insert(Screening).values(screening_id=screening_id, party=party, source=source,
                                 status="pending", request_hash=fingerprint)
        .on_conflict_do_nothing(index_elements=[Screening.screening_id])
        .returning(Screening.screening_id)).scalar_one_or_none()
    if inserted is None:
        existing = session.get(Screening, screening_id)
        if existing is None or existing.request_hash != fingerprint:
            raise Conflict(f"screening {screening_id} was already requested with another body",
                           code="screening_id_reused")
        return Requested(screening_id, created=False)
    register_subject(session, cipher, party, names, addresses)
    return Requested(screening_id, created=True)


def ensure_screening(session: Session, screening_id: str, party: str, *, source: str,
                     run_id: str | None = None) -> None:
    """A pending screening of what the party is already registered as (no new names)."""
    session.execute(insert(Screening).values(
        screening_id=screening_id, party=party, source=source, status="pending",
        request_hash="-", rescreen_run_id=run_id)
        .on_conflict_do_nothing(index_elements=[Screening.screening_id]))


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
                               (ListedAddress(u, c, a) for u, c, a in addresses))
        _INDEXES[version_id] = index
        while len(_INDEXES) > _KEEP_INDEXES:
            _INDEXES.popitem(last=False)
    _INDEXES.move_to_end(version_id)
    return index


def screen(index: ScreeningIndex, version_id: int, settings: Settings, names: list[str],
           addresses: list[str]) -> list[dict[str, Any]]:
    """Hits at `possible` or above, the best one per listed entry, best first."""
    match, possible = settings.sanctions_match_threshold, settings.sanctions_possible_threshold
    best: dict[int, dict[str, Any]] = {}
    for position, name in enumerate(names):
        for hit in index.screen_name(name, floor=possible):
            if hit.uid not in best or hit.score > best[hit.uid]["score"]:
                best[hit.uid] = {"entry_uid": hit.uid, "matched_name": hit.matched_name,
                                 "list_version": version_id, "score": hit.score,
                                 "decision": decide(hit.score, match, possible).value,
                                 "kind": "name", "query": f"name[{position}]"}
    for address in addresses:
        for listed in index.screen_address(address):
            best[listed.uid] = {"entry_uid": listed.uid, "matched_name": listed.address,
                                "list_version": version_id, "score": 1.0,
                                "decision": Decision.MATCH.value, "kind": "address",
                                "currency": listed.currency, "query": address}
    return sorted(best.values(), key=lambda h: (-h["score"], h["entry_uid"]))


def _previous_uids(session: Session, party: str, screening_id: str) -> set[int]:
    previous = session.scalars(
        select(Screening).where(Screening.party == party, Screening.status == "completed",
                                Screening.screening_id != screening_id)
        .order_by(Screening.completed_at.desc()).limit(1)).first()
    return {h["entry_uid"] for h in (previous.hits or [])} if previous is not None else set()


def run_screening(session: Session, screening_id: str, settings: Settings, now: datetime,
                  *, version_id: int | None = None) -> dict[str, Any]:
    """Screen once: a completed screening is returned as it is. Returns the screening view."""
    screening = session.get(Screening, screening_id, with_for_update=True)
    if screening is None:
        raise NotFound(f"screening {screening_id} not found", code="screening_not_found")
    if screening.status == "completed":
        return screening_view(screening)
    # One screening of a party at a time, so "new since the previous screening" is exact and
    # two concurrent screenings cannot both publish the same hit.
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:p))"),
                    {"p": f"screening:{screening.party}"})
    if version_id is None:
        active = active_version(session)
        version_id = active.version_id if active is not None else None
    subject = session.get(ScreeningSubject, screening.party)
    names = subject_names(subject, pii_cipher(settings)) if subject is not None else []
    addresses = list(dict.fromkeys([*(subject.addresses if subject else []),
                                    screening.party.lower()]))
    hits = (screen(index_for(session, version_id), version_id, settings, names, addresses)
            if version_id is not None else [])
    worst = max((Decision(h["decision"]) for h in hits), key=lambda d: d.rank,
                default=Decision.CLEAR)
    seen_before = _previous_uids(session, screening.party, screening_id)
    new_hits = [h for h in hits if h["entry_uid"] not in seen_before]
    screening.status, screening.decision, screening.hits = "completed", worst.value, hits
    screening.list_version_id, screening.completed_at = version_id, now
    screening.screened = {"names": len(names), "addresses": len(addresses),
                          "list_loaded": version_id is not None}
    if new_hits:
        record_event(session, topic=COMPLIANCE_RESULTS, event_type="sanctions.hit",
                     aggregate_id=screening.party,
                     data={"party": screening.party, "screening_id": screening_id,
                           "list_version": version_id, "decision": worst.value,
                           "source": screening.source, "hits": new_hits})
    return screening_view(screening) | {"new_hits": len(new_hits)}


def pending_screenings(session: Session, requested_before: datetime, limit: int = 1000
                       ) -> list[str]:
    """Pending API and KYC screenings (re-screens are resent through their run)."""
    return list(session.scalars(select(Screening.screening_id).where(
        Screening.status == "pending", Screening.source != "rescreen",
        Screening.requested_at < requested_before)
        .order_by(Screening.requested_at).limit(limit)))


def get_screening(session: Session, screening_id: str) -> Screening:
    screening = session.get(Screening, screening_id)
    if screening is None:
        raise NotFound(f"screening {screening_id} not found", code="screening_not_found")
    return screening


def latest_screening(session: Session, party: str) -> Screening | None:
    return session.scalars(
        select(Screening).where(Screening.party == party, Screening.status == "completed")
        .order_by(Screening.completed_at.desc()).limit(1)).first()


def screening_view(screening: Screening) -> dict[str, Any]:
    return {"screening_id": screening.screening_id, "party": screening.party,
            "source": screening.source, "status": screening.status,
            "decision": screening.decision, "list_version": screening.list_version_id,
            "hits": screening.hits or [], "screened": screening.screened,
            "requested_at": screening.requested_at.isoformat() if screening.requested_at
            else None,
            "completed_at": screening.completed_at.isoformat() if screening.completed_at
            else None}


def reseal_subjects(session: Session, cipher: PiiCipher, limit: int) -> int:
    """Move up to `limit` subjects' names sealed under a previous key to the current one."""
    subjects = session.scalars(
        select(ScreeningSubject).where(ScreeningSubject.names_sealed.is_not(None),
                                       ScreeningSubject.pii_key_id.is_distinct_from(
                                           cipher.key_id))
        .limit(limit).with_for_update(skip_locked=True)).all()
    for subject in subjects:
        names = subject_names(subject, cipher)
        subject.names_sealed = cipher.seal(names, context=_subject_context(subject.party))
        subject.pii_key_id = cipher.key_id
    return len(subjects)
