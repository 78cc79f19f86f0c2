"""SIGKILL a worker while it runs every kind of task at once (DVPs, escrow creations,
compliance checks, margin alerts), start another: each piece of work ends exactly once.

Collateral transfers alone are covered by test_worker_killed.py; this one holds the other
task kinds to the same rule, counting effects a second run would double (transfers, held
amounts, outbox events), not rows a primary key already limits.
"""

from __future__ import annotations

import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from app.config import get_settings
from app.persistence.alerts_models import AlertEvent
from app.persistence.compliance_models import AmlCheck
from app.persistence.db import unit_of_work
from app.persistence.models import Command
from app.services import intake
from app.services.commands import sweep_stuck_commands
from app.services.compliance import aml
from tests.integration.conftest import fund, in_an_hour
from tests.support import Worker, wait_for

pytestmark = pytest.mark.fault

QUEUE = "fault-mixed"  # only this test's workers consume it
DVPS, ESCROWS, CHECKS, ALERTS = 150, 60, 150, 100
ACCOUNTS = 10


def _send(task_name: str, task_id: str, **kwargs: Any) -> None:
    from tasks.celery_app import celery_app  # noqa: PLC0415

    celery_app.send_task(task_name, kwargs=kwargs, task_id=task_id, queue=QUEUE)


def _margin_event(event_id: str) -> dict[str, Any]:
    data = {"event_id": event_id, "event_type": "margin_call", "account_id": f"acc-{event_id}",
            "health_score": "18.50", "previous_health_score": "31.00", "status": "MARGIN_CALL",
            "severity": "high", "total_collateral_usd": "1000.00", "total_borrow_usd": "820.00",
            "liquidation_price_drop_percent": "7.50", "message": "Margin call",
            "occurred_at": "2026-11-28T00:00:00Z"}
    return {"event_type": "margin_call", "dedup_key": event_id, "message_id": event_id,
            "format": "cloudevents", "source": "tests", "time": None, "data": data}


class Work:
    """Everything this test sent, and what redelivery does for what the broker lost: the
    command sweeper and the compliance re-send (beat runs both in production), and a new
    delivery of an alert nobody recorded (what Pub/Sub does for an unacked message)."""

    def __init__(self) -> None:
        self.commands: list[str] = []
        self.escrows: dict[str, str] = {}  # escrow id -> payer
        self.checks: list[str] = []
        self.alerts: list[str] = []
        self.last_sweep = time.monotonic()

    def done(self) -> bool:
        self._sweep_now_and_then()
        return self._terminal() == len(self.commands) and self._checked() == len(self.checks) \
            and self._alerted() == len(self.alerts)

    def progress(self) -> str:
        return (f"commands {self._terminal()}/{len(self.commands)}, checks "
                f"{self._checked()}/{len(self.checks)}, alerts {self._alerted()}/"
                f"{len(self.alerts)}")

    def _terminal(self) -> int:
        with unit_of_work() as session:
            return int(session.scalar(select(func.count()).select_from(Command).where(
                Command.command_id.in_(self.commands),
                Command.status.in_(("settled", "failed")))) or 0)

    def _checked(self) -> int:
        with unit_of_work() as session:
            return int(session.scalar(select(func.count()).select_from(AmlCheck).where(
                AmlCheck.check_id.in_(self.checks), AmlCheck.status == "completed")) or 0)

    def _alerted(self) -> int:
        with unit_of_work() as session:
            return int(session.scalar(select(func.count()).select_from(AlertEvent).where(
                AlertEvent.event_id.in_(self.alerts))) or 0)

    def _sweep_now_and_then(self) -> None:
        if time.monotonic() - self.last_sweep < get_settings().command_sweep_interval_seconds:
            return
        self.last_sweep = time.monotonic()
        now = datetime.now(UTC)
        bound = timedelta(seconds=get_settings().command_sweep_after_seconds)
        with unit_of_work() as session:
            stuck = sweep_stuck_commands(session, now, bound)
            pending = set(aml.pending_checks(session, now - bound)) & set(self.checks)
            recorded = set(session.scalars(select(AlertEvent.event_id).where(
                AlertEvent.event_id.in_(self.alerts))))
        for command_id, task_name in stuck:
            _send(task_name, command_id, command_id=command_id)
        for check_id in pending:
            _send("compliance.check_transaction", f"{check_id}:again:{now.timestamp()}",
                  check_id=check_id)
        for event_id in set(self.alerts) - recorded:
            _send("alerts.handle_margin_event", f"{event_id}:again:{now.timestamp()}",
                  event=_margin_event(event_id), message_id=event_id)


def _prepare(rng: random.Random) -> tuple[Work, list[tuple[str, str, dict[str, Any]]]]:
    accounts = [f"mixed-{uuid.uuid4().hex[:6]}-{i}" for i in range(ACCOUNTS)]
    for account in accounts:
        fund(account, "5000.00")
        fund(account, "50", asset="BTC")
    work, sends = Work(), []
    decimals, now = get_settings().asset_decimals, datetime.now(UTC)
    with unit_of_work() as session:
        for _ in range(DVPS):
            buyer, seller = rng.sample(accounts, 2)
            command_id = intake.submit_settlement_command(
                session, decimals, command_id=str(uuid.uuid4()), type="DVP",
                workflow_id="fault", account_ref="fault", payer=buyer, payee=seller,
                asset="USD", amount=f"{rng.randint(100, 9000) / 100:.2f}",
                deadline=in_an_hour(), counter_asset="BTC",
                counter_amount=f"{rng.randint(1, 300) / 100:.2f}").command_id
            work.commands.append(command_id)
            sends.append(("settlement.process_command", command_id, {"command_id": command_id}))
        for _ in range(ESCROWS):
            payer, payee = rng.sample(accounts, 2)
            accepted = intake.request_escrow(
                session, decimals, payer=payer, payee=payee, arbiter=None,
                amount=f"{rng.randint(100, 5000) / 100:.2f}", asset="USD",
                release_delay_seconds=3600, approvals_required=1)
            assert accepted.escrow_id is not None
            work.commands.append(accepted.command_id)
            work.escrows[accepted.escrow_id] = payer
            sends.append(("settlement.create_escrow", accepted.command_id,
                          {"command_id": accepted.command_id}))
        for i in range(CHECKS):
            # Parties of their own: a high-risk alert on a trading account would hold its
            # settlements for review.
            check_id = aml.accept_check(
                session, decimals, party=f"aml-{accounts[i % ACCOUNTS]}", counterparty="bank-1",
                amount="9000000.00" if i % 3 == 0 else "250.00", asset="USD", type="deposit",
                occurred_at=now, now=now).check_id
            work.checks.append(check_id)
            sends.append(("compliance.check_transaction", f"check-{check_id}",
                          {"check_id": check_id}))
    for _ in range(ALERTS):
        event_id = str(uuid.uuid4())
        work.alerts.append(event_id)
        sends.append(("alerts.handle_margin_event", f"alert-{event_id}",
                       {"event": _margin_event(event_id), "message_id": event_id}))
    rng.shuffle(sends)
    return work, sends


def test_killing_a_worker_mid_task_of_every_kind_loses_and_doubles_nothing(
        service_env: dict[str, str], tmp_path: Path) -> None:
    work, sends = _prepare(random.Random(11))
    first = Worker(service_env, tmp_path / "first.log", queues=QUEUE).start()
    for task_name, task_id, kwargs in sends:
        _send(task_name, task_id, **kwargs)
    wait_for(lambda: work._terminal() + work._checked() + work._alerted() >= 60, timeout=60,
             what="some progress before the kill")
    first.kill()
    assert work._terminal() + work._checked() + work._alerted() < len(sends), \
        "the worker finished before it could be killed"
    second = Worker(service_env, tmp_path / "second.log", queues=QUEUE).start()
    try:
        wait_for(work.done, timeout=120, interval=0.5, what="all work done after the restart")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {work.progress()}") from None
    finally:
        second.stop()

    with unit_of_work() as session:
        ids = work.commands
        outcomes = dict(session.execute(text(
            "SELECT aggregate_id, count(*) FROM outbox WHERE aggregate_id = ANY(:ids) "
            "AND event_type IN ('command.settled', 'command.failed') GROUP BY aggregate_id"),
            {"ids": ids}).all())
        assert len(outcomes) == len(ids) and set(outcomes.values()) == {1}
        legs = dict(session.execute(text(
            "SELECT c.command_id, count(t.transfer_id) FROM commands AS c LEFT JOIN "
            "ledger_transfers AS t ON t.transfer_id IN (c.command_id || :payment, "
            "c.command_id || :delivery) WHERE c.command_id = ANY(:ids) AND c.type = 'DVP' "
            "AND c.status = 'settled' GROUP BY c.command_id"),
            {"ids": ids, "payment": ":payment", "delivery": ":delivery"}).all())
        assert legs and set(legs.values()) == {2}, "a settled DVP has both legs, each once"
        created = dict(session.execute(text(
            "SELECT aggregate_id, count(*) FROM outbox WHERE aggregate_id = ANY(:ids) "
            "AND event_type = 'escrow.state_changed' GROUP BY aggregate_id"),
            {"ids": list(work.escrows)}).all())
        funded = session.execute(text(
            "SELECT e.escrow_id, e.amount FROM escrows AS e WHERE e.escrow_id = ANY(:ids)"),
            {"ids": list(work.escrows)}).all()
        assert all(created[escrow_id] == 1 for escrow_id, _ in funded)
        holds = dict(session.execute(text(
            "SELECT credit_account, sum(amount) FROM ledger_transfers "
            "WHERE transfer_id = ANY(:ids) AND status = 'pending' GROUP BY credit_account"),
            {"ids": [f"escrow:{e}:funding" for e in work.escrows]}).all())
        assert holds == {f"escrow:{e}": amount for e, amount in funded}
        checked = dict(session.execute(text(
            "SELECT payload->>'check_id', count(*) FROM outbox WHERE event_type = "
            "'check.completed' AND payload->>'check_id' = ANY(:ids) GROUP BY 1"),
            {"ids": work.checks}).all())
        assert len(checked) == len(work.checks) and set(checked.values()) == {1}
        sums = session.execute(text(
            "SELECT asset, sum(credits_posted - debits_posted) FROM ledger_balances "
            "GROUP BY asset")).all()
        assert all(total == Decimal(0) for _, total in sums), sums
        assert session.scalar(text(
            "SELECT count(*) FROM ledger_balances WHERE no_overdraft "
            "AND credits_posted - debits_posted - debits_pending < 0")) == 0
