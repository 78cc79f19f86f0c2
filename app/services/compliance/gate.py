"""The compliance gate (DOMAIN.md §4): may we act for this party? clear, review or blocked.

    party_gate(session, party, settings) -> GateDecision

blocked: the party id is a crypto address on the active sanctions list; or its latest
         screening decided `match`; or its latest decided KYC case was rejected.
review:  its latest screening decided `possible`; or it has an open (or investigating) high
         AML alert; or, when settings.kyc_required_for_settlement, its latest decided KYC case
         is not an approved one (none yet counts).
clear:   none of these.
It reads stored decisions only (a few indexed queries, no screening), so it is cheap enough for
every command validation and release. The settings come from the caller, never from the
environment here, so tests and callers decide whether KYC is required.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.domain.compliance.alerts import AlertKind, AlertStatus
from app.domain.compliance.gate import GateCode, GateDecision, GateReason, GateStatus
from app.domain.compliance.kyc import KycStatus
from app.domain.escrow import normalise_party
from app.persistence.compliance_models import ComplianceAlert, KycCase, SanctionsAddress
from app.services.compliance.lists import active_version
from app.services.compliance.screening import latest_screening


def sanctions_reasons(session: Session, party: str) -> list[GateReason]:
    reasons = []
    active = active_version(session)
    if active is not None:
        listed = session.execute(
            select(SanctionsAddress.uid, SanctionsAddress.currency, SanctionsAddress.address)
            .where(SanctionsAddress.version_id == active.version_id,
                   SanctionsAddress.address_lower == party.lower())).first()
        if listed is not None:
            uid, currency, address = listed
            reasons.append(GateReason(
                GateCode.SANCTIONS_MATCH, GateStatus.BLOCKED,
                f"{currency} address {address} is on sanctions list version "
                f"{active.version_id} (entry {uid})",
                {"entry_uid": uid, "list_version": active.version_id, "address": address}))
    screening = latest_screening(session, party)
    if screening is not None and screening.decision in ("match", "possible"):
        hits = [h for h in screening.hits or [] if h["decision"] == screening.decision]
        names = ", ".join(f"{h['matched_name']} ({h['entry_uid']}, {h['score']})"
                          for h in hits[:3])
        blocked = screening.decision == "match"
        reasons.append(GateReason(
            GateCode.SANCTIONS_MATCH if blocked else GateCode.SANCTIONS_POSSIBLE_MATCH,
            GateStatus.BLOCKED if blocked else GateStatus.REVIEW,
            f"screening {screening.screening_id} {screening.decision}: {names}",
            {"screening_id": screening.screening_id, "list_version": screening.list_version_id,
             "entry_uids": [h["entry_uid"] for h in hits]}))
    return reasons


def _kyc_reasons(session: Session, party: str, required: bool) -> list[GateReason]:
    decided = session.scalars(
        select(KycCase).where(KycCase.party == party, KycCase.decided_at.is_not(None))
        .order_by(KycCase.decided_at.desc()).limit(1)).first()
    if decided is not None and decided.status == KycStatus.REJECTED.value:
        return [GateReason(GateCode.KYC_REJECTED, GateStatus.BLOCKED,
                           f"KYC case {decided.case_id} was rejected",
                           {"case_id": decided.case_id})]
    if required and (decided is None or decided.status != KycStatus.APPROVED.value):
        return [GateReason(GateCode.KYC_NOT_APPROVED, GateStatus.REVIEW,
                           "no approved KYC case, and KYC is required for settlement", {})]
    return []


def _aml_reasons(session: Session, party: str) -> list[GateReason]:
    open_high = list(session.scalars(
        select(ComplianceAlert.alert_id).where(
            ComplianceAlert.party == party, ComplianceAlert.kind == AlertKind.AML_CHECK.value,
            ComplianceAlert.level == "high",
            ComplianceAlert.status.in_([s.value for s in AlertStatus if s.active]))
        .order_by(ComplianceAlert.opened_at)))
    if not open_high:
        return []
    return [GateReason(GateCode.AML_HIGH_RISK_ALERT, GateStatus.REVIEW,
                       f"{len(open_high)} open high-risk AML alert(s)", {"alert_ids": open_high})]


def party_gate(session: Session, party: str, settings: Settings) -> GateDecision:
    """The gate's decision for one party (an account id or a chain address)."""
    who = normalise_party(party)
    reasons = [*sanctions_reasons(session, who),
               *_kyc_reasons(session, who, settings.kyc_required_for_settlement),
               *_aml_reasons(session, who)]
    return GateDecision(who, tuple(reasons))
