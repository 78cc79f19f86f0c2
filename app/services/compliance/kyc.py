"""KYC cases (DOMAIN.md §4). Personal data is sealed on arrival and never logged; the case
keeps in clear only its status, history, the verification flags and the score.

Opening a case also registers the person's full name for sanctions screening and asks for a
screening, so a KYC'd party is screened by name, not only by its id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.domain.compliance import kyc as rules
from app.domain.compliance.kyc import KycStatus
from app.domain.errors import Conflict, InvalidInput, NotFound
from app.domain.parties import check_account
from app.messaging.topology import COMPLIANCE_RESULTS
from app.persistence.compliance_models import KycCase, KycCaseEvent
from app.persistence.models import new_id
from app.services.compliance import screening
from app.services.compliance.pii import PiiCipher
from app.services.outbox import record_event

CENT = Decimal("0.01")
PERSONAL_FIELDS = ("full_name", "date_of_birth", "nationality", "country_of_residence",
                   "address", "document_number", "email", "phone")


@dataclass(frozen=True, slots=True)
class OpenedCase:
    case: KycCase
    created: bool
    screening_id: str | None  # send compliance.screen_party after commit when set


def _context(case_id: str) -> str:
    return f"kyc_case:{case_id}"


def open_case(session: Session, cipher: PiiCipher, *, party: str, document_type: str,
              personal_data: dict[str, str], photo_quality: str, email_verified: bool,
              phone_verified: bool, case_id: str | None = None) -> OpenedCase:
    party = check_account(party, "party")
    if document_type not in rules.DOCUMENT_TYPES:
        raise InvalidInput(f"document_type must be one of {sorted(rules.DOCUMENT_TYPES)}",
                           code="invalid_document_type", field="document_type")
    # Minimisation: only the fields the case needs are kept, empty ones are dropped.
    data = {k: str(personal_data[k]).strip() for k in PERSONAL_FIELDS
            if str(personal_data.get(k) or "").strip()}
    if not data.get("full_name"):
        raise InvalidInput("personal_data.full_name is required", code="full_name_required",
                           field="personal_data.full_name")
    verification = rules.verification(data, photo_quality=photo_quality,
                                      email_verified=email_verified,
                                      phone_verified=phone_verified)
    fingerprint = cipher.fingerprint({"party": party, "document_type": document_type,
                                      "data": data, "verification": photo_quality,
                                      "email": email_verified, "phone": phone_verified})
    case_id = case_id or new_id()
    existing = session.get(KycCase, case_id)
    if existing is not None:
        if existing.request_hash != fingerprint:
            raise Conflict(f"KYC case {case_id} was already opened with another body",
                           code="case_id_reused")
        return OpenedCase(existing, created=False, screening_id=None)
    case = KycCase(case_id=case_id, party=party, status=KycStatus.PENDING.value,
                   document_type=document_type, photo_quality=verification.photo_quality,
                   data_complete=verification.data_complete,
                   email_verified=verification.email_verified,
                   phone_verified=verification.phone_verified,
                   verification_score=verification.score,
                   personal_data=cipher.seal(data, context=_context(case_id)),
                   pii_key_id=cipher.key_id, request_hash=fingerprint)
    try:
        with session.begin_nested():
            session.add(case)
            session.flush()
    except IntegrityError as exc:  # the partial unique index: one open case per party
        raise Conflict(f"party {party} already has an open KYC case; decide it first",
                       code="kyc_case_open") from exc
    session.add(KycCaseEvent(case_id=case_id, from_status=None, to_status=case.status))
    screening_id = f"kyc:{case_id}"
    screening.request_screening(session, cipher, party=party, names=[data["full_name"]],
                                addresses=[], screening_id=screening_id, source="kyc")
    return OpenedCase(case, created=True, screening_id=screening_id)


def transition_case(session: Session, case_id: str, *, to: str, reason: str | None,
                    reviewer: str, now: datetime) -> KycCase:
    case = session.get(KycCase, case_id, with_for_update=True)
    if case is None:
        raise NotFound(f"KYC case {case_id} not found", code="kyc_case_not_found")
    try:
        target = KycStatus(to)
    except ValueError as exc:
        raise InvalidInput(f"unknown KYC status {to!r}; one of {[s.value for s in KycStatus]}",
                           code="invalid_status", field="to") from exc
    previous = case.status
    case.status = rules.transition(KycStatus(previous), target, reason).value
    case.updated_at = now
    session.add(KycCaseEvent(case_id=case_id, from_status=previous, to_status=target.value,
                             reason=reason, reviewer=reviewer, at=now))
    if target.terminal:
        case.decided_at = now
        record_event(session, topic=COMPLIANCE_RESULTS, event_type="kyc.decided",
                     aggregate_id=case.party,
                     data={"case_id": case_id, "party": case.party, "status": target.value,
                           "verification_score": str(case.verification_score.quantize(CENT)),
                           "reviewer": reviewer, "decided_at": now.isoformat()})
    return case


def get_case(session: Session, case_id: str) -> KycCase:
    case = session.get(KycCase, case_id)
    if case is None:
        raise NotFound(f"KYC case {case_id} not found", code="kyc_case_not_found")
    return case


def case_view(session: Session, case: KycCase, cipher: PiiCipher, *, reveal: bool = False
              ) -> dict[str, Any]:
    """The case with its history and score. Which personal fields are on file always; their
    values only with `reveal` (the caller checked that the reader may see them)."""
    events = session.scalars(select(KycCaseEvent).where(KycCaseEvent.case_id == case.case_id)
                             .order_by(KycCaseEvent.id))
    data = cipher.open(case.personal_data, context=_context(case.case_id),
                       key_id=case.pii_key_id)
    view: dict[str, Any] = {
        "case_id": case.case_id, "party": case.party, "status": case.status,
        "document_type": case.document_type,
        "allowed_transitions": sorted(rules.allowed_moves(KycStatus(case.status))),
        "verification": {"score": str(case.verification_score.quantize(CENT)),
                         "photo_quality": case.photo_quality,
                         "data_complete": case.data_complete,
                         "email_verified": case.email_verified,
                         "phone_verified": case.phone_verified},
        "history": [{"from": e.from_status, "to": e.to_status, "reason": e.reason,
                     "reviewer": e.reviewer, "at": e.at.isoformat()} for e in events],
        "personal_data_on_file": sorted(data),
        "opened_at": case.opened_at.isoformat(),
        "decided_at": case.decided_at.isoformat() if case.decided_at else None,
    }
    if reveal:
        view["personal_data"] = data
    return view


def reseal_cases(session: Session, cipher: PiiCipher, limit: int) -> int:
    """Move up to `limit` cases sealed under a previous key to the current one."""
    cases = session.scalars(select(KycCase).where(KycCase.pii_key_id != cipher.key_id)
                            .limit(limit).with_for_update(skip_locked=True)).all()
    for case in cases:
        data = cipher.open(case.personal_data, context=_context(case.case_id),
                           key_id=case.pii_key_id)
        case.personal_data = cipher.seal(data, context=_context(case.case_id))
        case.pii_key_id = cipher.key_id
    return len(cases)
