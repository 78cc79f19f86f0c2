"""SIGKILL a worker in the middle of 500 commands: every command ends exactly once."""

from __future__ import annotations

import random
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from app.config import get_settings
from app.persistence.db import unit_of_work
from app.persistence.models import Command, LedgerTransfer, OutboxEvent
from app.services import intake
from tests.integration.conftest import fund, in_an_hour
from tests.support import Worker, wait_for

pytestmark = pytest.mark.fault

COMMANDS = 500
ACCOUNTS = 20
# Its own queue, so only the workers of this test consume these commands.
QUEUE = "fault-settlement"


def _terminal(ids: list[str]) -> int:
    with unit_of_work() as session:
        return int(session.scalar(
            select(func.count()).select_from(Command)
            .where(Command.command_id.in_(ids), Command.status.in_(("settled", "failed")))) or 0)


def test_killing_a_worker_mid_run_loses_and_doubles_nothing(
        service_env: dict[str, str], tmp_path: Path) -> None:
    from tasks.celery_app import celery_app  # noqa: PLC0415

    rng = random.Random(7)
    accounts = [f"fault-{uuid.uuid4().hex[:6]}-{i}" for i in range(ACCOUNTS)]
    for account in accounts:
        fund(account, "100.00")
    ids: list[str] = []
    with unit_of_work() as session:
        for _ in range(COMMANDS):
            payer, payee = rng.sample(accounts, 2)
            ids.append(intake.submit_settlement_command(
                session, get_settings().asset_decimals, command_id=str(uuid.uuid4()),
                type="COLLATERAL_TRANSFER", workflow_id="fault", account_ref="fault",
                payer=payer, payee=payee, asset="USD",
                amount=f"{rng.randint(1, 3000) / 100:.2f}", deadline=in_an_hour()).command_id)
    first = Worker(service_env, tmp_path / "first.log", queues=QUEUE).start()
    for command_id in ids:
        celery_app.send_task("settlement.process_command", kwargs={"command_id": command_id},
                             task_id=command_id, queue=QUEUE)

    wait_for(lambda: _terminal(ids) >= 60, timeout=60, what="some progress before the kill")
    first.kill()
    done_at_kill = _terminal(ids)
    assert done_at_kill < COMMANDS, "the worker finished before it could be killed"

    second = Worker(service_env, tmp_path / "second.log", queues=QUEUE).start()
    try:
        # The killed worker's reserved messages come back after the visibility timeout.
        wait_for(lambda: _terminal(ids) == COMMANDS, timeout=120, interval=0.5,
                 what="all commands terminal after the restart")
    finally:
        second.stop()

    with unit_of_work() as session:
        statuses = dict(session.execute(
            select(Command.status, func.count()).where(Command.command_id.in_(ids))
            .group_by(Command.status)).all())
        assert sum(statuses.values()) == COMMANDS
        assert set(statuses) <= {"settled", "failed"}
        transfers = session.scalar(select(func.count()).select_from(LedgerTransfer).where(
            LedgerTransfer.transfer_id.in_([f"{i}:payment" for i in ids])))
        assert transfers == statuses.get("settled", 0)
        finals = session.execute(
            select(OutboxEvent.aggregate_id, func.count()).where(
                OutboxEvent.aggregate_id.in_(ids),
                OutboxEvent.event_type.in_(("command.settled", "command.failed")))
            .group_by(OutboxEvent.aggregate_id)).all()
        assert len(finals) == COMMANDS and all(n == 1 for _, n in finals)
        sums = session.execute(text(
            "SELECT asset, sum(credits_posted - debits_posted) FROM ledger_balances "
            "GROUP BY asset")).all()
        assert all(total == Decimal(0) for _, total in sums), sums
        overdrawn = session.scalar(text(
            "SELECT count(*) FROM ledger_balances WHERE no_overdraft "
            "AND credits_posted - debits_posted - debits_pending < 0"))
        assert overdrawn == 0
