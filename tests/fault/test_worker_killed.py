"""SIGKILL a worker in the middle of 500 commands: every command ends exactly once."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from app.persistence.db import unit_of_work
from app.persistence.models import Command, LedgerTransfer, OutboxEvent
from tests.fault.kill_support import (
    accept_random_transfers,
    fresh_queue,
    restart_until_terminal,
    terminal_count,
)
from tests.support import Worker, wait_for

pytestmark = pytest.mark.fault

COMMANDS = 500
ACCOUNTS = 20


def test_killing_a_worker_mid_run_loses_and_doubles_nothing(
        service_env: dict[str, str], tmp_path: Path) -> None:
    from tasks.celery_app import celery_app  # noqa: PLC0415

    queue = fresh_queue()

    ids = accept_random_transfers(seed=7, name="fault", accounts=ACCOUNTS, funding="100.00",
                                  count=COMMANDS)
    # One command per task, so the kill lands mid-run (a task taking waiting commands settles
    # these 500 in a few units of work; test_take_waiting_worker_killed.py kills those).
    env = {**service_env, "SETTLEMENT_TAKE_WAITING": "0"}
    first = Worker(env, tmp_path / "first.log", queues=queue).start()
    for command_id in ids:
        celery_app.send_task("settlement.process_command", kwargs={"command_id": command_id},
                             task_id=command_id, queue=queue)

    wait_for(lambda: terminal_count(ids) >= 60, timeout=60, what="some progress before the kill")
    first.kill()
    done_at_kill = terminal_count(ids)
    assert done_at_kill < COMMANDS, "the worker finished before it could be killed"

    restart_until_terminal(env, tmp_path / "second.log", ids, queue=queue, timeout=120)

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
