"""A task delivered twice, both copies in flight at once, has one effect.

Each test sends the same work under two task ids, as a broker redelivery or a bridge that
enqueued twice would, waits until *both* copies have finished, and only then counts an
effect that a second run could double: balances, outbox events, alerts. Rows whose primary
key forbids a second copy are not counted, because they cannot fail the test.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.config import get_settings
from app.domain import ledger as rules
from app.domain.commands import CommandType
from app.persistence.compliance_models import ComplianceAlert
from app.persistence.db import unit_of_work
from app.persistence.models import LedgerBalance, OutboxEvent
from app.services import intake
from app.services.compliance import aml, screening
from app.services.compliance.pii import pii_cipher
from app.services.compliance.sanctions_loader import load_directory
from tests.integration.conftest import count, fund, party, posted
from tests.support import Worker

pytestmark = pytest.mark.integration
SMALL = Path(__file__).resolve().parent.parent / "data" / "ofac-sdn-small"


def deliver_twice(task_name: str, **kwargs: str) -> list[dict[str, Any]]:
    """Send the same task under two ids at once; return both results once both ran."""
    from tasks.celery_app import celery_app  # noqa: PLC0415 - after service_env's settings

    twins = [celery_app.send_task(task_name, kwargs=kwargs, task_id=f"{uuid.uuid4()}-{copy}")
             for copy in ("first", "redelivery")]
    return [dict(result.get(timeout=60)) for result in twins]


def events(aggregate_id: str, event_type: str) -> list[dict[str, Any]]:
    with unit_of_work() as session:
        return [e.payload for e in session.scalars(select(OutboxEvent).where(
            OutboxEvent.aggregate_id == aggregate_id, OutboxEvent.event_type == event_type)
            .order_by(OutboxEvent.seq))]


def held(account: str, asset: str = "USD") -> Decimal:
    """What pending debits hold on the account: a second hold would double it."""
    with unit_of_work() as session:
        balance = session.get(LedgerBalance, (account, asset))
        assert balance is not None
        return rules.posted(balance) - rules.available(balance)


def escrow_statuses(escrow_id: str) -> list[str]:
    return [e["status"] for e in events(escrow_id, "escrow.state_changed")]


def created_escrow(worker: Worker, *, approvals: int = 0) -> dict[str, str]:
    payer, payee = party("dup-payer"), party("dup-payee")
    fund(payer, "1000.00")
    with unit_of_work() as session:
        accepted = intake.request_escrow(
            session, get_settings().asset_decimals, payer=payer, payee=payee, arbiter=None,
            amount="100.00", asset="USD", release_delay_seconds=0,
            approvals_required=max(approvals, 1))
    assert accepted.escrow_id is not None
    outcomes = deliver_twice("settlement.create_escrow", command_id=accepted.command_id)
    assert [o["status"] for o in outcomes] == ["settled", "settled"]
    return {"escrow_id": accepted.escrow_id, "payer": payer, "payee": payee}


def escrow_action(escrow_id: str, kind: CommandType, **payload: str) -> str:
    with unit_of_work() as session:
        return intake.request_escrow_action(session, escrow_id, kind, payload).command_id


def test_create_escrow_twice_holds_the_amount_once(worker: Worker) -> None:
    escrow = created_escrow(worker)
    assert held(escrow["payer"]) == Decimal("100.00")
    assert posted(escrow["payer"]) == Decimal("1000.00")
    assert escrow_statuses(escrow["escrow_id"]) == ["created"]


def test_release_escrow_twice_pays_the_payee_once(worker: Worker) -> None:
    escrow = created_escrow(worker)
    approval = escrow_action(escrow["escrow_id"], CommandType.ESCROW_APPROVE,
                             approver=escrow["payer"])
    assert {o["status"] for o in deliver_twice("settlement.approve_escrow",
                                                command_id=approval)} == {"settled"}
    release = escrow_action(escrow["escrow_id"], CommandType.ESCROW_RELEASE)
    outcomes = deliver_twice("settlement.release_escrow", command_id=release)
    assert [o["status"] for o in outcomes] == ["settled", "settled"]
    assert posted(escrow["payee"]) == Decimal("100.00")
    assert posted(escrow["payer"]) == Decimal("900.00")
    assert held(escrow["payer"]) == Decimal(0)
    assert escrow_statuses(escrow["escrow_id"]) == ["created", "approved", "released"]


def test_refund_escrow_twice_returns_the_amount_once(worker: Worker) -> None:
    escrow = created_escrow(worker)
    time.sleep(1.1)  # the test grace is 1 s after a release time of now
    refund = escrow_action(escrow["escrow_id"], CommandType.ESCROW_REFUND,
                           requested_by=escrow["payer"])
    outcomes = deliver_twice("settlement.refund_escrow", command_id=refund)
    assert [o["status"] for o in outcomes] == ["settled", "settled"]
    assert posted(escrow["payer"]) == Decimal("1000.00")
    assert held(escrow["payer"]) == Decimal(0)
    assert posted(escrow["payee"]) == Decimal(0)
    assert escrow_statuses(escrow["escrow_id"]) == ["created", "refunded"]


def test_a_compliance_check_twice_opens_one_alert_and_publishes_once(worker: Worker) -> None:
    who, now = f"aml-dup-{uuid.uuid4().hex[:8]}", datetime.now(UTC)
    with unit_of_work() as session:
        # Far above the large-transaction rule: the check opens an alert.
        check_id = aml.accept_check(
            session, get_settings().asset_decimals, party=who, counterparty="bank-1",
            amount="9000000.00", asset="USD", type="deposit", country=None,
            occurred_at=now, now=now).check_id
    first, again = deliver_twice("compliance.check_transaction", check_id=check_id)
    assert first == again and first["alert_id"] is not None
    assert len(events(who, "check.completed")) == 1
    assert count(ComplianceAlert, ComplianceAlert.party == who) == 1


def test_a_screening_twice_publishes_its_hit_once(worker: Worker) -> None:
    with unit_of_work() as session:
        load_directory(session, SMALL, rescreen_after=False)
    who = f"screened-dup-{uuid.uuid4().hex[:8]}"
    with unit_of_work() as session:
        requested = screening.request_screening(
            session, pii_cipher(get_settings()), party=who, names=["Tasca"], addresses=[])
    first, again = deliver_twice("compliance.screen_party",
                                 screening_id=requested.screening_id)
    assert first == again and first["hits"] >= 1
    assert len(events(who, "sanctions.hit")) == 1
