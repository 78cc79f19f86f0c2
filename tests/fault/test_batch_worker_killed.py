"""SIGKILL a worker in the middle of 5,000 commands settled in batches, start another:
every command ends exactly once, with one transfer set and one outcome event, and the
ledger balances."""

from __future__ import annotations

import random
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from app.config import get_settings
from app.persistence.db import unit_of_work
from app.persistence.models import Command, OutboxEvent
from app.services import command_batches
from tests.fault.kill_support import fresh_queue, restart_until_terminal, terminal_count
from tests.integration.conftest import fund
from tests.support import Worker, wait_for
from web.schemas import SettlementCommand

pytestmark = pytest.mark.fault

COMMANDS = 5000
PER_TASK = 100
ACCOUNTS = 40


def test_killing_a_worker_mid_batch_loses_and_doubles_nothing(
        service_env: dict[str, str], tmp_path: Path) -> None:
    from tasks.celery_app import celery_app  # noqa: PLC0415

    queue = fresh_queue()

    rng = random.Random(17)
    accounts = [f"bfault-{uuid.uuid4().hex[:6]}-{i}" for i in range(ACCOUNTS)]
    for account in accounts:
        fund(account, "200.00")
    items = []
    for n in range(COMMANDS):
        payer, payee = rng.sample(accounts, 2)
        dvp = n % 5 == 0
        items.append({
            "command_id": str(uuid.uuid4()), "type": "DVP" if dvp else "COLLATERAL_TRANSFER",
            "workflow_id": "bfault", "account_ref": "bfault", "payer": payer, "payee": payee,
            "asset": "USD", "amount": f"{rng.randint(1, 3000) / 100:.2f}",
            # a DVP's delivery leg is in an asset nobody holds: it fails, both legs or neither
            "counter_asset": "BTC" if dvp else None, "counter_amount": "0.1" if dvp else None,
            "deadline": "2999-01-01T00:00:00+00:00"})
    ids = [item["command_id"] for item in items]
    with unit_of_work() as session:
        for start in range(0, COMMANDS, 1000):
            chunk = [(n, SettlementCommand.model_validate(item).model_dump())
                     for n, item in enumerate(items[start:start + 1000])]
            submission = command_batches.submit_batch(
                session, get_settings().asset_decimals, chunk, len(chunk))
            assert not submission.refused
    first = Worker(service_env, tmp_path / "first.log", queues=queue).start()
    for start in range(0, COMMANDS, PER_TASK):
        celery_app.send_task("settlement.settle_batch", queue=queue, kwargs={
            "command_ids": ids[start:start + PER_TASK], "batch_id": f"bfault-{start}"})

    wait_for(lambda: terminal_count(ids) >= 5 * PER_TASK, timeout=60, interval=0.05,
             what="some batches done before the kill")
    first.kill()
    done_at_kill = terminal_count(ids)
    assert done_at_kill < COMMANDS, "the worker finished before it could be killed"

    # The killed worker's batches come back after the visibility timeout, or are re-sent
    # command by command by the sweeper.
    restart_until_terminal(service_env, tmp_path / "second.log", ids, queue=queue, timeout=180)

    with unit_of_work() as session:
        statuses = dict(session.execute(
            select(Command.status, func.count()).where(Command.command_id.in_(ids))
            .group_by(Command.status)).all())
        assert sum(statuses.values()) == COMMANDS
        assert set(statuses) <= {"settled", "failed"}
        assert statuses.get("settled", 0) > 0 and statuses.get("failed", 0) > 0
        transfers = dict(session.execute(text(
            "SELECT right(transfer_id, 8) = 'delivery', count(*) FROM ledger_transfers "
            "WHERE transfer_id = ANY(:ids) GROUP BY 1"),
            {"ids": [f"{i}:{leg}" for i in ids for leg in ("payment", "delivery")]}).all())
        assert transfers.get(False, 0) == statuses.get("settled", 0)
        assert transfers.get(True, 0) == 0  # no DVP could deliver: none moved half
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
