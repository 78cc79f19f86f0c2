"""Compliance alerts: opened by AML checks (medium, high) and by chain facts on held parties;
worked through `open → investigating → resolved | false_positive`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from app.domain.compliance import alerts as rules
from app.domain.compliance.alerts import AlertKind, AlertStatus
from app.domain.compliance.gate import GateDecision, GateStatus
from app.domain.errors import InvalidInput, NotFound
from app.persistence.compliance_models import ComplianceAlert
from app.persistence.models import new_id

MAX_LIST = 500


def open_alert(session: Session, *, dedup_key: str, kind: AlertKind, party: str, level: str,
               details: dict[str, Any], check_id: str | None = None) -> str:
    """Open an alert once per cause; returns its id (the existing one on a replay)."""
    alert_id = session.execute(
        insert(ComplianceAlert)
        .values(alert_id=new_id(), dedup_key=dedup_key, kind=kind.value, party=party,
                level=level, status=AlertStatus.OPEN.value, check_id=check_id, details=details,
                history=[])
        .on_conflict_do_nothing(index_elements=[ComplianceAlert.dedup_key])
        .returning(ComplianceAlert.alert_id)).scalar_one_or_none()
    if alert_id is None:
        alert_id = session.scalars(select(ComplianceAlert.alert_id)
                                   .where(ComplianceAlert.dedup_key == dedup_key)).one()
    return alert_id


def raise_chain_fact_alert(session: Session, *, party: str, decision: GateDecision,
                           fact_key: str, details: dict[str, Any]) -> str | None:
    """A fact reported from the chain (EscrowReleased...) involved a party the gate holds: it
    is recorded anyway, and this alert asks a human to look. Nothing for a clear party.
    `fact_key` identifies the fact (e.g. the inbound dedup key), so a replay opens no second
    alert."""
    if decision.status is GateStatus.CLEAR:
        return None
    level = "high" if decision.status is GateStatus.BLOCKED else "medium"
    return open_alert(session, dedup_key=f"chain:{fact_key}:{party}", kind=AlertKind.CHAIN_FACT,
                      party=party, level=level,
                      details={**details, "gate": decision.as_dict()})


def transition_alert(session: Session, alert_id: str, *, to: str, reason: str | None,
                     reviewer: str, now: datetime) -> ComplianceAlert:
    alert = session.get(ComplianceAlert, alert_id, with_for_update=True)
    if alert is None:
        raise NotFound(f"alert {alert_id} not found", code="alert_not_found")
    try:
        target = AlertStatus(to)
    except ValueError as exc:
        raise InvalidInput(f"unknown alert status {to!r}; one of {[s.value for s in AlertStatus]}",
                           code="invalid_status", field="to") from exc
    previous = alert.status
    alert.status = rules.transition(AlertStatus(previous), target, reason).value
    # A new list, not an in-place append: JSONB columns are only saved when reassigned.
    alert.history = [*alert.history, {"from": previous, "to": target.value, "reason": reason,
                                      "reviewer": reviewer, "at": now.isoformat()}]
    alert.updated_at = now
    return alert


def get_alert(session: Session, alert_id: str) -> ComplianceAlert:
    alert = session.get(ComplianceAlert, alert_id)
    if alert is None:
        raise NotFound(f"alert {alert_id} not found", code="alert_not_found")
    return alert


def list_alerts(session: Session, *, party: str | None = None, status: str | None = None,
                kind: str | None = None, limit: int = 100) -> list[ComplianceAlert]:
    query = select(ComplianceAlert).order_by(ComplianceAlert.opened_at.desc(),
                                             ComplianceAlert.alert_id)
    if party:
        query = query.where(ComplianceAlert.party == party)
    if status:
        query = query.where(ComplianceAlert.status == status)
    if kind:
        query = query.where(ComplianceAlert.kind == kind)
    return list(session.scalars(query.limit(max(1, min(limit, MAX_LIST)))))


def alert_view(alert: ComplianceAlert) -> dict[str, Any]:
    return {"alert_id": alert.alert_id, "kind": alert.kind, "party": alert.party,
            "level": alert.level, "status": alert.status, "check_id": alert.check_id,
            "details": alert.details, "history": alert.history,
            "opened_at": alert.opened_at.isoformat(), "updated_at": alert.updated_at.isoformat()}
