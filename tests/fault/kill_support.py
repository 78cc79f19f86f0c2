"""What the worker-kill tests share: a backlog of accepted transfers on funded accounts, the
sweeper aimed at the tests' own queue, and the restart that waits until every command is
terminal."""

from __future__ import annotations

import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from app.config import get_settings
from app.persistence.db import unit_of_work
from app.persistence.models import Command
from app.services import intake
from app.services.commands import sweep_stuck_commands
from tests.integration.conftest import fund, in_an_hour
from tests.support import Worker, wait_for


def fresh_queue() -> str:
    """A queue of one test's own: only its workers consume its commands, and nothing an
    earlier test left queued (thousands of tasks whose commands another task took) runs first."""
    return f"fault-settlement-{uuid.uuid4().hex[:8]}"


def terminal_count(ids: list[str]) -> int:
    with unit_of_work() as session:
        return int(session.scalar(
            select(func.count()).select_from(Command)
            .where(Command.command_id.in_(ids), Command.status.in_(("settled", "failed")))) or 0)


class Sweeps:
    """What beat's maintenance.sweep_commands does every COMMAND_SWEEP_INTERVAL_SECONDS, aimed
    at the tests' queue: re-send the commands left `received` for COMMAND_SWEEP_AFTER_SECONDS."""

    def __init__(self, queue: str) -> None:
        self.queue = queue
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
                                 task_id=command_id, queue=self.queue)


def accept_random_transfers(*, seed: int, name: str, accounts: int, funding: str,
                            count: int) -> list[str]:
    """Fund `accounts` fresh accounts and accept `count` collateral transfers between random
    pairs of them (some will not be covered): their command ids, in acceptance order."""
    rng = random.Random(seed)
    names = [f"{name}-{uuid.uuid4().hex[:6]}-{i}" for i in range(accounts)]
    for account in names:
        fund(account, funding)
    ids: list[str] = []
    with unit_of_work() as session:
        for _ in range(count):
            payer, payee = rng.sample(names, 2)
            ids.append(intake.submit_settlement_command(
                session, get_settings().asset_decimals, command_id=str(uuid.uuid4()),
                type="COLLATERAL_TRANSFER", workflow_id=name, account_ref=name,
                payer=payer, payee=payee, asset="USD",
                amount=f"{rng.randint(1, 3000) / 100:.2f}", deadline=in_an_hour()).command_id)
    return ids


def restart_until_terminal(env: dict[str, str], log: Path, ids: list[str], *, queue: str,
                           timeout: float) -> None:
    """Start a second worker and wait, sweeping as beat would, until every command is
    terminal: the killed worker's messages come back after the visibility timeout, and one
    it had popped from Redis but not yet recorded as unacked (kombu does those in two steps;
    SIGKILL can fall in between) is re-sent by the sweeper."""
    second = Worker(env, log, queues=queue).start()
    sweeps = Sweeps(queue)
    try:
        wait_for(lambda: sweeps.now_and_then() or terminal_count(ids) == len(ids),
                 timeout=timeout, interval=0.5, what="all commands terminal after the restart")
    finally:
        second.stop()
