"""SIGKILL a worker in the middle of 500 commands: every command ends exactly once."""

from __future__ import annotations

import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from app.config import get_settings
from app.persistence.db import unit_of_work
from app.persistence.models import Command, LedgerTransfer, OutboxEvent
from app.services import intake
from app.services.commands import sweep_stuck_commands
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


class Sweeps:
    """What beat's maintenance.sweep_commands does every COMMAND_SWEEP_INTERVAL_SECONDS, aimed
    at this test's queue: re-send the commands left `received` for COMMAND_SWEEP_AFTER_SECONDS."""

    def __init__(self) -> None:
        self.last = time.monotonic()

    def now_and_then(self) -> None:
        from tasks.celery_app import celery_app  # noqa: PLC0415

        if time.monotonic() - self.last < get_settings().command_sweep_interval_seconds:
            return
        self.last = time.monotonic()
        bound = timedelta(seconds=get_settings().command_sweep_after_seconds)
        with unit_of_work() as session:
            stuck = sweep_stuck_commands(session, datetime.now(UTC), bound)
        for command_id, task_name in stuck:
            celery_app.send_task(task_name, kwargs={"command_id": command_id},
                                 task_id=command_id, queue=QUEUE)


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
    # One command per task, so the kill lands mid-run (a task taking waiting commands settles
    # these 500 in a few units of work; test_take_waiting_worker_killed.py kills those).
    env = {**service_env, "SETTLEMENT_TAKE_WAITING": "0"}
    first = Worker(env, tmp_path / "first.log", queues=QUEUE).start()
    for command_id in ids:
        celery_app.send_task("settlement.process_command", kwargs={"command_id": command_id},
                             task_id=command_id, queue=QUEUE)

    wait_for(lambda: _terminal(ids) >= 60, timeout=60, what="some progress before the kill")
    first.kill()
    done_at_kill = _terminal(ids)
    assert done_at_kill < COMMANDS, "the worker finished before it could be killed"

    second = Worker(env, tmp_path / "second.log", queues=QUEUE).start()
    sweeps = Sweeps()
    try:
        # The killed worker's reserved messages come back after the visibility timeout. One
        # it had popped from Redis but not yet recorded as unacked is gone from the broker:
        # kombu's Redis transport does those in two steps, and SIGKILL can fall in between.
        # The command is still `received` in Postgres, and the sweeper (beat runs it in
        # production) sends it again.
        wait_for(lambda: sweeps.now_and_then() or _terminal(ids) == COMMANDS, timeout=120,
                 interval=0.5, what="all commands terminal after the restart")
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
