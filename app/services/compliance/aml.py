"""AML transaction checks: accepted by the API, assessed by the worker against the party's
history in Postgres (DOMAIN.md §4). The rules and lists are data: app/data/aml_rules.json."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from app.domain.compliance.alerts import AlertKind
from app.domain.compliance.aml import Checked, RuleSet, TransactionType, Txn, assess
from app.domain.errors import Conflict, InvalidInput, NotFound
from app.domain.money import parse_amount
from app.domain.parties import check_account
from app.messaging.topology import COMPLIANCE_RESULTS
from app.persistence.compliance_models import AmlCheck
from app.persistence.models import new_id
from app.services.commands import request_hash
from app.services.compliance import alerts
from app.services.compliance.gate import sanctions_reasons
from app.services.compliance.pricing import Valuation, usd_value
from app.services.outbox import record_event

CENT = Decimal("0.01")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
# Reported transactions may lag; one from the future is a client clock or a typo.
CLOCK_SKEW = timedelta(minutes=5)


@lru_cache(maxsize=1)
def rule_set() -> RuleSet:
    raw = resources.files("app").joinpath("data/aml_rules.json").read_text(encoding="utf-8")
    return RuleSet.from_config(json.loads(raw))


@dataclass(frozen=True, slots=True)
class AcceptedCheck:
    check_id: str
    created: bool


def accept_check(session: Session, decimals: Mapping[str, int], *, party: str,
                 counterparty: str, amount: object, asset: str, type: str,
                 occurred_at: datetime, now: datetime, country: str | None = None,
                 check_id: str | None = None) -> AcceptedCheck:
    """Validate and store a transaction to check, once per check id."""
    money = parse_amount(amount, asset, decimals)
    party, counterparty = check_account(party, "party"), check_account(counterparty,
                                                                        "counterparty")
    if type not in {t.value for t in TransactionType}:
        raise InvalidInput(f"type must be one of {[t.value for t in TransactionType]}",
                           code="invalid_type", field="type")
    country = country.strip().upper() if country else None
    if country is not None and not _COUNTRY.match(country):
        raise InvalidInput("country must be an ISO 3166-1 alpha-2 code such as \"DE\"",
                           code="invalid_country", field="country")
    if occurred_at > now + CLOCK_SKEW:
        raise InvalidInput("occurred_at is in the future", code="occurred_in_future",
                           field="occurred_at")
    check_id = check_id or new_id()
    values = {"party": party, "counterparty": counterparty, "amount": money.amount,
              "asset": money.asset, "type": type, "country": country,
              "occurred_at": occurred_at}
    # The same amount written "5" or "5.00" is the same request.
    fingerprint = request_hash({**values, "amount": format(money.amount.normalize(), "f"),
                                "occurred_at": occurred_at.isoformat()})
    inserted = session.execute(
        insert(AmlCheck).values(check_id=check_id, request_hash=fingerprint, status="pending",
                                **values)
        .on_conflict_do_nothing(index_elements=[AmlCheck.check_id])
        .returning(AmlCheck.check_id)).scalar_one_or_none()
    if inserted is None:
        existing = session.get(AmlCheck, check_id)
        if existing is None or existing.request_hash != fingerprint:
            raise Conflict(f"check {check_id} was already submitted with another body",
                           code="check_id_reused")
        return AcceptedCheck(check_id, created=False)
    return AcceptedCheck(check_id, created=True)


def _history(session: Session, check: AmlCheck, rules: RuleSet) -> list[Txn]:
    """The party's transactions in the longest window ending at this one. Rows not assessed
    yet have no stored USD value: they are valued now, at one price per asset."""
    longest = max(rules.structuring_window, rules.velocity_window)
    rows = session.execute(
        select(AmlCheck.check_id, AmlCheck.occurred_at, AmlCheck.amount, AmlCheck.asset,
               AmlCheck.usd_value)
        .where(AmlCheck.party == check.party, AmlCheck.check_id != check.check_id,
               AmlCheck.occurred_at > check.occurred_at - longest,
               AmlCheck.occurred_at <= check.occurred_at)).all()
    prices: dict[str, Valuation] = {}
    history = []
    for check_id, occurred_at, amount, asset, stored in rows:
        usd = stored
        if usd is None:
            unit = prices.get(asset) or usd_value(session, asset, Decimal(1))
            prices[asset] = unit
            usd = amount * unit.usd if unit.usd is not None else None
        history.append(Txn(check_id, occurred_at, usd, amount, asset))
    return history


def _counterparty_hit(session: Session, counterparty: str) -> dict[str, Any] | None:
    blocked = [r for r in sanctions_reasons(session, counterparty) if r.status == "blocked"]
    return {"counterparty": counterparty, **blocked[0].refs,
            "detail": blocked[0].detail} if blocked else None


def run_check(session: Session, check_id: str, now: datetime) -> dict[str, Any]:
    """Assess a check once; a completed check returns its stored result."""
    check = session.get(AmlCheck, check_id, with_for_update=True)
    if check is None:
        raise NotFound(f"check {check_id} not found", code="check_not_found")
    if check.status == "completed":
        return check_view(check)
    rules = rule_set()
    valuation = usd_value(session, check.asset, check.amount)
    txn = Txn(check.check_id, check.occurred_at, valuation.usd, check.amount, check.asset)
    checked = Checked(txn, check.type, check.counterparty, check.country,
                      _counterparty_hit(session, check.counterparty))
    result = assess(rules, checked, _history(session, check, rules))
    check.usd_value, check.valuation = valuation.usd, valuation.as_dict()
    check.score, check.level = result.score, result.level.value
    check.fired, check.rules_version = [f.as_dict() for f in result.fired], result.rules_version
    check.status, check.completed_at = "completed", now
    if result.opens_alert:
        check.alert_id = alerts.open_alert(
            session, dedup_key=f"check:{check_id}", kind=AlertKind.AML_CHECK, party=check.party,
            level=result.level.value, check_id=check_id,
            details={"score": str(result.score), "rules": [f.rule for f in result.fired],
                     "rules_version": result.rules_version})
    record_event(session, topic=COMPLIANCE_RESULTS, event_type="check.completed",
                 aggregate_id=check.party,
                 data={"check_id": check_id, "party": check.party, "score": str(result.score),
                       "level": result.level.value, "rules": [f.rule for f in result.fired],
                       "rules_version": result.rules_version, "unpriced": result.unpriced,
                       "alert_id": check.alert_id})
    return check_view(check)


def pending_checks(session: Session, accepted_before: datetime, limit: int = 1000) -> list[str]:
    return list(session.scalars(select(AmlCheck.check_id).where(
        AmlCheck.status == "pending", AmlCheck.accepted_at < accepted_before)
        .order_by(AmlCheck.accepted_at).limit(limit)))


def get_check(session: Session, check_id: str) -> AmlCheck:
    check = session.get(AmlCheck, check_id)
    if check is None:
        raise NotFound(f"check {check_id} not found", code="check_not_found")
    return check


def check_view(check: AmlCheck) -> dict[str, Any]:
    return {"check_id": check.check_id, "status": check.status, "party": check.party,
            "counterparty": check.counterparty, "amount": format(check.amount.normalize(), "f"),
            "asset": check.asset, "type": check.type, "country": check.country,
            "occurred_at": check.occurred_at.isoformat(),
            "score": str(check.score.quantize(CENT)) if check.score is not None else None,
            "level": check.level, "rules": check.fired or [], "rules_version": check.rules_version,
            "valuation": check.valuation, "alert_id": check.alert_id,
            "completed_at": check.completed_at.isoformat() if check.completed_at else None}
