"""Escrow events on the risk-events route keep each payer's escrowed collateral current."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from app.messaging.routing import route
from app.persistence.db import unit_of_work
from app.persistence.models import InboundEvent
from app.persistence.risk_models import RiskPosition
from tests.integration.test_risk_margin import snapshots_of
from tests.messages import address, approved, created, deployed, encode, released
from tests.support import Worker, drain, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("service_env")]
SUB = "risk-events"


def publish(event_type: str, data: dict[str, Any], message_id: str = "m") -> dict[str, Any]:
    from tasks.celery_app import celery_app, send_routed  # noqa: PLC0415

    raw, attributes = encode(event_type, data, "cloudevents")
    routed = route(SUB, raw, attributes, message_id)
    send_routed(routed)
    return dict(celery_app.AsyncResult(routed.task_id).get(timeout=30))


def escrowed(account_id: str) -> Decimal:
    with unit_of_work() as session:
        row = session.get(RiskPosition, (account_id, "ETH"))
        return row.escrowed if row else Decimal(0)


def test_an_open_escrow_is_collateral_of_its_payer_until_released(worker: Worker) -> None:
    contract, payer, payee = address(), address(), address()
    two_eth = "2000000000000000000"
    opened = publish("EscrowDeployed", deployed(contract, payer, payee, wei=two_eth))
    assert opened["outcome"] == "applied" and opened["account_id"] == payer
    assert escrowed(payer) == Decimal(2)
    # The payer's margin is recalculated after the change.
    wait_for(lambda: snapshots_of(payer), what="payer recalculated")
    # The same escrow described again (EscrowCreated), and the same message again, add nothing.
    assert publish("EscrowCreated", created(contract, payer, payee, wei=two_eth),
                   "m2")["outcome"] == "ignored"
    replayed = deployed(contract, payer, payee, wei=two_eth)  # new tx hash: a new dedup key
    assert publish("EscrowDeployed", replayed, "m3")["outcome"] == "ignored"
    assert escrowed(payer) == Decimal(2)
    assert route(SUB, *encode("Approved", approved(contract, payer), "cloudevents"),
                 "m4").task_name == "risk.record_event"
    assert publish("EscrowReleased", released(contract, payee, wei=two_eth))["outcome"] == (
        "applied")
    assert escrowed(payer) == Decimal(0)


def test_a_duplicate_event_is_applied_once(worker: Worker) -> None:
    contract, payer, payee = address(), address(), address()
    data = deployed(contract, payer, payee)
    assert publish("EscrowDeployed", data, "first")["outcome"] == "applied"
    # A redelivery has the same dedup key, hence the same task id: look at the effects.
    publish("EscrowDeployed", data, "redelivered")
    drain(("risk",))
    assert escrowed(payer) == Decimal(1)
    with unit_of_work() as session:
        logged = session.scalars(select(InboundEvent).where(
            InboundEvent.consumer == "risk", InboundEvent.aggregate_id == contract)).all()
    assert [e.status for e in logged] == ["applied"]


def test_a_release_seen_before_its_escrow_leaves_nothing_escrowed(worker: Worker) -> None:
    contract, payer, payee = address(), address(), address()
    assert publish("EscrowReleased", released(contract, payee))["outcome"] == "recorded"
    assert publish("EscrowDeployed", deployed(contract, payer, payee))["outcome"] == "ignored"
    assert escrowed(payer) == Decimal(0)
