"""Chain events through the bridge's routing and a real worker (Pub/Sub itself is tested with the
emulator elsewhere): effects, idempotency, merging, out-of-order delivery."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from app.messaging.routing import route
from app.persistence.db import unit_of_work
from app.persistence.models import EscrowApproval, EscrowRecord, InboundEvent, OutboxEvent
from tests.integration.conftest import count, posted
from tests.messages import FORMATS, address, approved, created, deployed, encode, released
from tests.support import Worker, drain, wait_for

pytestmark = pytest.mark.integration
SUB = "settlement-events"


def publish(event_type: str, data: dict[str, Any], fmt: str = "cloudevents",
            message_id: str = "m", event_id: str | None = None) -> str:
    from tasks.celery_app import send_routed  # noqa: PLC0415

    raw, attributes = encode(event_type, data, fmt, event_id=event_id)
    return send_routed(route(SUB, raw, attributes, message_id))


def outcome(task_id: str) -> str:
    from tasks.celery_app import celery_app  # noqa: PLC0415

    return str(celery_app.AsyncResult(task_id).get(timeout=30)["outcome"])


def escrow_for(contract: str) -> EscrowRecord | None:
    with unit_of_work() as session:
        return session.scalars(select(EscrowRecord).where(
            EscrowRecord.contract_address == contract)).one_or_none()


@pytest.mark.parametrize("fmt", FORMATS)
def test_deploy_approve_release_in_each_format(worker: Worker, fmt: str) -> None:
    contract, payer, payee = address(), address(), address()
    assert outcome(publish("EscrowDeployed", deployed(contract, payer, payee), fmt)) == "applied"
    escrow = escrow_for(contract)
    assert escrow is not None and escrow.status == "created" and escrow.source == "chain"
    assert escrow.amount == Decimal(1) and escrow.asset == "ETH"
    assert outcome(publish("Approved", approved(contract, payer), fmt)) == "applied"
    assert outcome(publish("EscrowReleased", released(contract, payee), fmt)) == "applied"
    escrow = escrow_for(contract)
    assert escrow is not None and escrow.status == "released"
    assert posted(payee, "ETH") == Decimal(1)
    assert posted("external:chain:11155111:ETH", "ETH") <= Decimal(-1)


def test_the_same_message_three_times_has_one_effect(worker: Worker) -> None:
    contract, payer, payee = address(), address(), address()
    data = deployed(contract, payer, payee)
    for i in range(3):
        publish("EscrowDeployed", data, message_id=f"m{i}")
    drain()
    assert count(EscrowRecord, EscrowRecord.contract_address == contract) == 1
    assert count(InboundEvent, InboundEvent.aggregate_id == contract) == 1
    escrow = escrow_for(contract)
    assert escrow is not None
    assert count(OutboxEvent, OutboxEvent.aggregate_id == escrow.escrow_id) == 1


def test_created_and_deployed_for_one_escrow_make_one_escrow(worker: Worker) -> None:
    contract, payer, payee = address(), address(), address()
    assert outcome(publish("EscrowCreated", created(contract, payer, payee), "flat")) == "applied"
    assert outcome(publish("EscrowDeployed", deployed(contract, payer, payee))) == "applied"
    assert count(EscrowRecord, EscrowRecord.contract_address == contract) == 1
    escrow = escrow_for(contract)
    assert escrow is not None and escrow.status == "created"


def test_an_approval_before_its_escrow_is_applied_when_the_escrow_appears(
        worker: Worker) -> None:
    contract, payer, payee = address(), address(), address()
    assert outcome(publish("Approved", approved(contract, payee))) == "waiting"
    assert escrow_for(contract) is None
    assert outcome(publish("EscrowDeployed", deployed(contract, payer, payee))) == "applied"
    escrow = escrow_for(contract)
    assert escrow is not None and escrow.status == "approved"
    assert count(EscrowApproval, EscrowApproval.escrow_id == escrow.escrow_id) == 1
    with unit_of_work() as session:
        waiting = session.scalars(select(InboundEvent).where(
            InboundEvent.aggregate_id == contract, InboundEvent.status == "waiting")).all()
    assert waiting == []


def test_a_redeployed_escrow_is_not_reset(worker: Worker) -> None:
    contract, payer, payee = address(), address(), address()
    outcome(publish("EscrowDeployed", deployed(contract, payer, payee, approvals=1)))
    outcome(publish("Approved", approved(contract, payer)))
    # The same deployment replayed with a new transaction (a new dedup key).
    assert outcome(publish("EscrowDeployed", deployed(contract, payer, payee))) == "applied"
    escrow = escrow_for(contract)
    assert escrow is not None and escrow.status == "approved"


def test_settlement_status_events_are_recorded_and_routed_to_risk_too(worker: Worker) -> None:
    from tasks.celery_app import send_routed  # noqa: PLC0415

    data = {"command_id": "no-such-command", "status_reason": "timeout",
            "occurred_at": "2026-11-28T00:00:00Z"}
    assert outcome(publish("SettlementFailed", data, event_id="sf-1")) == "recorded"
    raw, attributes = encode("SettlementFailed", data, "cloudevents", event_id="sf-1")
    risk_task = send_routed(route("risk-events", raw, attributes, "m"))
    assert outcome(risk_task) == "recorded"
    wait_for(lambda: count(InboundEvent, InboundEvent.dedup_key == "tests:sf-1") == 2,
             what="both consumers recorded")


def test_a_chain_release_to_a_blocked_payee_is_recorded_and_raises_an_alert(
        worker: Worker) -> None:
    from app.persistence.compliance_models import ComplianceAlert  # noqa: PLC0415
    from tests.integration.test_settlement_gate import reject_kyc  # noqa: PLC0415

    contract, payer, payee = address(), address(), address()
    outcome(publish("EscrowDeployed", deployed(contract, payer, payee)))
    reject_kyc(payee)
    assert outcome(publish("EscrowReleased", released(contract, payee))) == "applied"
    assert escrow_for(contract) is not None
    assert posted(payee, "ETH") == Decimal(1)
    wait_for(lambda: count(ComplianceAlert, ComplianceAlert.party == payee,
                           ComplianceAlert.kind == "chain_fact") == 1,
             what="a compliance alert for the blocked payee")
