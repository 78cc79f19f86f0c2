"""SIGKILL a worker whose settlement tasks take waiting single commands into their units of
work: at the kill every command is untouched or terminal (never half-written), and after a
restart every one ends terminal exactly once."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from app.persistence.db import unit_of_work
from app.persistence.models import Command
from tests.fault.kill_support import (
    accept_random_transfers,
    fresh_queue,
    restart_until_terminal,
    terminal_count,
)
from tests.integration.test_settlement_take_waiting import exactly_once
from tests.support import Worker, wait_for

pytestmark = pytest.mark.fault

COMMANDS = 4000
ACCOUNTS = 30


def half_written(ids: list[str]) -> dict[str, int]:
    """Commands caught between `received` and terminal, or terminal without their effects:
    none may exist at any moment, whatever was killed."""
    with unit_of_work() as session:
        return {str(k): int(v) for k, v in session.execute(text("""
            SELECT 'walking' AS problem, count(*) FROM commands
             WHERE command_id = ANY(:ids) AND status IN ('validated', 'settling')
            UNION ALL
            SELECT 'settled_without_transfer', count(*) FROM commands c
             WHERE c.command_id = ANY(:ids) AND c.status = 'settled' AND NOT EXISTS (
                   SELECT 1 FROM ledger_transfers t
                    WHERE t.transfer_id = c.command_id || :suffix)
            UNION ALL
            SELECT 'terminal_without_event', count(*) FROM commands c
             WHERE c.command_id = ANY(:ids) AND c.status IN ('settled', 'failed')
               AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.aggregate_id = c.command_id
                               AND o.event_type IN ('command.settled', 'command.failed'))
            UNION ALL
            SELECT 'transfer_of_unsettled', count(*) FROM commands c
             WHERE c.command_id = ANY(:ids) AND c.status <> 'settled' AND EXISTS (
                   SELECT 1 FROM ledger_transfers t
                    WHERE t.transfer_id = c.command_id || :suffix)
        """), {"ids": ids, "suffix": ":payment"}).all() if v}


def test_killing_a_worker_mid_taken_batch_loses_and_doubles_nothing(
        service_env: dict[str, str], tmp_path: Path) -> None:
    from tasks.celery_app import celery_app  # noqa: PLC0415

    queue = fresh_queue()

    ids = accept_random_transfers(seed=23, name="tfault", accounts=ACCOUNTS,
                                  funding="150.00", count=COMMANDS)
    # Every task queued before the worker starts: each one it runs finds a backlog to take.
    for command_id in ids:
        celery_app.send_task("settlement.process_command", kwargs={"command_id": command_id},
                             task_id=command_id, queue=queue)
    first = Worker(service_env, tmp_path / "first.log", queues=queue).start()
    wait_for(lambda: terminal_count(ids) >= 300, timeout=60, interval=0.02,
             what="some taken batches done before the kill")
    first.kill()
    done_at_kill = terminal_count(ids)
    assert done_at_kill < COMMANDS, "the worker finished before it could be killed"
    assert half_written(ids) == {}

    # The killed units of work rolled back; their commands are `received` again, and each
    # one's own task (still queued, redelivered, or re-sent by the sweeper) or another task's
    # take settles it.
    restart_until_terminal(service_env, tmp_path / "second.log", ids, queue=queue, timeout=180)

    assert half_written(ids) == {}
    statuses = exactly_once(ids)
    assert set(statuses) <= {"settled", "failed"}
    assert statuses.get("settled", 0) > 0 and statuses.get("failed", 0) > 0
    with unit_of_work() as session:
        settlers = Counter(session.scalars(
            select(Command.settled_by).where(Command.command_id.in_(ids))))
        overdrawn = session.scalar(text(
            "SELECT count(*) FROM ledger_balances WHERE no_overdraft "
            "AND credits_posted - debits_posted - debits_pending < 0"))
        assert session.scalar(select(func.count()).select_from(Command).where(
            Command.command_id.in_(ids), Command.settled_by.is_(None))) == 0
    assert overdrawn == 0
    assert len(settlers) < COMMANDS // 4, "the tasks did not take waiting commands"
