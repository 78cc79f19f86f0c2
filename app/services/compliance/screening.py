"""Sanctions screening of a party's names and crypto addresses (DOMAIN.md §4).

A party is screened as its subject: every name and address ever registered for it (through the
screening API or its KYC case), plus the party id itself as an address, since settlement
parties are often chain addresses. A screening names each hit's entry uid, the matched listed
name, the list version, the score and the decision; the query names themselves are kept only
sealed on the subject. A hit the party's previous screening did not have is published as
`sanctions.hit` on compliance.results.v1.

Every active list is screened (app.services.compliance.screening_lists: each hit names its list,
an unreadable name is `possible`, never `clear`), with the party's secondary attributes (date of
birth, country, entity type), sealed like its names. A reviewer's standing decision on an entry
(app.services.compliance.hit_reviews) is carried into every later screening of the party.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from app.config import Settings
from app.domain.compliance import attributes as attrs
from app.domain.errors import Conflict, InvalidInput, NotFound
from app.domain.parties import check_account
from app.messaging.topology import COMPLIANCE_RESULTS
from app.persistence.compliance_models import Screening, ScreeningSubject
from app.persistence.models import new_id
from app.persistence.screening_locks import lock_party_screening
from app.services.compliance import hit_reviews
from app.services.compliance.countries import country_code
from app.services.compliance.pii import PiiCipher, pii_cipher
from app.services.compliance.screening_lists import list_indexes, screen
from app.services.outbox import record_event

MAX_NAMES = 20
MAX_ADDRESSES = 20
_ADDRESS = re.compile(r"^[A-Za-z0-9:]{4,200}$")


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


def _attributes_context(party: str) -> str:
    return f"screening_attributes:{party}"


def subject_attributes(subject: ScreeningSubject, cipher: PiiCipher) -> dict[str, Any]:
    if subject.attributes_sealed is None:
        return {}
    opened = cipher.open(subject.attributes_sealed, context=_attributes_context(subject.party),
                         key_id=subject.pii_key_id)
    return dict(opened)


def requested_attributes(values: dict[str, Any]) -> attrs.Requested:
    born = values.get("date_of_birth")
    return attrs.Requested(
        birth_date=datetime.fromisoformat(born).date() if born else None,
        birth_year=values.get("birth_year"), country=values.get("country"),
        entity_type=values.get("entity_type"))


def _seal_subject(subject: ScreeningSubject, cipher: PiiCipher, names: list[str],
                  attributes: dict[str, Any]) -> None:
    # One key seals both, so pii_key_id names it for both.
    subject.names_sealed = cipher.seal(names, context=_subject_context(subject.party))
    subject.attributes_sealed = (cipher.seal(attributes,
                                             context=_attributes_context(subject.party))
                                 if attributes else None)
    subject.pii_key_id, subject.name_count = cipher.key_id, len(names)


def register_subject(session: Session, cipher: PiiCipher, party: str, names: list[str],
                     addresses: list[str], *, attributes: dict[str, Any] | None = None
                     ) -> ScreeningSubject:
    """Add names and addresses to what the party is screened as (a union, never a removal);
    attributes given replace the ones known (the latest statement about the party wins)."""
    session.execute(insert(ScreeningSubject).values(party=party, name_count=0, addresses=[])
                    .on_conflict_do_nothing(index_elements=[ScreeningSubject.party]))
    subject = session.get(ScreeningSubject, party, with_for_update=True, populate_existing=True)
    assert subject is not None
    known = subject_names(subject, cipher)
    known_attributes = subject_attributes(subject, cipher)
    merged = list(dict.fromkeys([*known, *names]))[:MAX_NAMES]
    merged_attributes = known_attributes | (attributes or {})
    if merged != known or merged_attributes != known_attributes:
        _seal_subject(subject, cipher, merged, merged_attributes)
    subject.addresses = list(dict.fromkeys([*subject.addresses, *addresses]))[:MAX_ADDRESSES]
    return subject


def clean_attributes(*, date_of_birth: str | None = None, birth_year: int | None = None,
                     nationality: str | None = None, entity_type: str | None = None
                     ) -> dict[str, Any]:
    """The attributes as stored: a known country code, a known entity type, a plausible year."""
    cleaned: dict[str, Any] = {}
    if date_of_birth is not None:
        try:
            cleaned["date_of_birth"] = datetime.fromisoformat(date_of_birth).date().isoformat()
        except ValueError as exc:
            raise InvalidInput("date_of_birth must be YYYY-MM-DD", code="invalid_date_of_birth",
                               field="date_of_birth") from exc
    if birth_year is not None:
        if not 1850 <= birth_year <= 2100:
            raise InvalidInput("birth_year must be 1850-2100", code="invalid_birth_year",
                               field="birth_year")
        cleaned["birth_year"] = birth_year
    if nationality is not None:
        code = country_code(nationality)
        if code is None:
            raise InvalidInput(f"{nationality!r} is not a country name or code",
                               code="invalid_country", field="nationality")
        cleaned["country"] = code
    if entity_type is not None:
        if entity_type not in attrs.ENTITY_TYPES:
            raise InvalidInput(f"entity_type is one of {', '.join(attrs.ENTITY_TYPES)}",
                               code="invalid_entity_type", field="entity_type")
        cleaned["entity_type"] = entity_type
    return cleaned


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
                      source: str = "api", attributes: dict[str, Any] | None = None
                      ) -> Requested:
    """Register what to screen and store a pending screening; the worker runs it.
    `attributes` are clean_attributes' output."""
    party, names, addresses = _clean(party, names, addresses)
    body: dict[str, Any] = {"party": party, "names": names, "addresses": addresses}
    if attributes:
        body["attributes"] = attributes
    # An HMAC, not a plain hash: a fingerprint of personal data must not be guessable.
    fingerprint = cipher.fingerprint(body)
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
    register_subject(session, cipher, party, names, addresses, attributes=attributes)
    return Requested(screening_id, created=True)


def ensure_screening(session: Session, screening_id: str, party: str, *, source: str,
                     run_id: str | None = None) -> None:
    """A pending screening of what the party is already registered as (no new names)."""
    session.execute(insert(Screening).values(
        screening_id=screening_id, party=party, source=source, status="pending",
        request_hash="-", rescreen_run_id=run_id)
        .on_conflict_do_nothing(index_elements=[Screening.screening_id]))


def _previous_keys(session: Session, party: str, screening_id: str
                   ) -> set[hit_reviews.HitKey]:
    previous = session.scalars(
        select(Screening).where(Screening.party == party, Screening.status == "completed",
                                Screening.screening_id != screening_id)
        .order_by(Screening.completed_at.desc()).limit(1)).first()
    return ({hit_reviews.hit_key(h) for h in (previous.hits or [])} if previous is not None
            else set())


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
    lock_party_screening(session, screening.party)
    indexes = list_indexes(session, version_id)
    subject = session.get(ScreeningSubject, screening.party)
    cipher = pii_cipher(settings)
    names = subject_names(subject, cipher) if subject is not None else []
    requested = requested_attributes(subject_attributes(subject, cipher) if subject else {})
    addresses = list(dict.fromkeys([*(subject.addresses if subject else []),
                                    screening.party.lower()]))
    hits = screen(indexes, settings, names, addresses, requested) if indexes else []
    standing = hit_reviews.standing_reviews(session, screening.party)
    hits = [hit_reviews.reviewed(h, standing[key]) if (key := hit_reviews.hit_key(h)) in standing
            else h for h in hits]
    worst = hit_reviews.worst_decision(hits)
    seen_before = _previous_keys(session, screening.party, screening_id)
    new_hits = [h for h in hits if hit_reviews.hit_key(h) not in seen_before]
    screening.status, screening.decision, screening.hits = "completed", worst.value, hits
    screening.list_version_id = indexes[0].version_id if indexes else None
    screening.completed_at = now
    screening.screened = {"names": len(names), "addresses": len(addresses),
                          "list_loaded": bool(indexes)}
    if new_hits:
        record_event(session, topic=COMPLIANCE_RESULTS, event_type="sanctions.hit",
                     aggregate_id=screening.party,
                     data={"party": screening.party, "screening_id": screening_id,
                           "list_version": screening.list_version_id,
                           "decision": worst.value,
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
        _seal_subject(subject, cipher, subject_names(subject, cipher),
                      subject_attributes(subject, cipher))
    return len(subjects)
