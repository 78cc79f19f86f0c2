"""A settlement task takes other single commands waiting in `received` into its unit of work:
a burst settles with fewer tasks doing the work, each command once; what it takes (and what
it must leave to its own task) and in which order it decides them."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select, text, update

from app.config import get_settings
from app.persistence.db import unit_of_work
from app.persistence.models import Command, LedgerTransfer, OutboxEvent
from app.services import command_batches, settlement
from tests.integration.conftest import fund, party
from tests.integration.test_settlement_batches import deposit, hold_for_review, submit
from tests.support import Worker, drain, wait_for
from web.schemas import SettlementCommand

pytestmark = pytest.mark.integration

# Its own queue: the commands' tasks wait there until this test's worker starts, as a burst
# waits behind a busy worker.
QUEUE = "take-waiting-settlement"
BURST = 400


def stored(ids: list[str]) -> dict[str, Command]:
    with unit_of_work() as session:
        return {c.command_id: c for c in session.scalars(
            select(Command).where(Command.command_id.in_(ids)))}


def exactly_once(ids: list[str]) -> dict[str, int]:
    """Statuses of the commands, after checking that each settled one moved once and each
    terminal one announced its outcome once."""
    with unit_of_work() as session:
        statuses = dict(session.execute(
            select(Command.status, func.count()).where(Command.command_id.in_(ids))
            .group_by(Command.status)).all())
        transfers = session.scalar(select(func.count()).select_from(LedgerTransfer).where(
            LedgerTransfer.transfer_id.in_([f"{i}:payment" for i in ids])))
        finals = session.execute(
            select(OutboxEvent.aggregate_id, func.count()).where(
                OutboxEvent.aggregate_id.in_(ids),
                OutboxEvent.event_type.in_(("command.settled", "command.failed")))
            .group_by(OutboxEvent.aggregate_id)).all()
        sums = session.execute(text(
            "SELECT asset, sum(credits_posted - debits_posted) FROM ledger_balances "
            "GROUP BY asset")).all()
    assert transfers == statuses.get("settled", 0)
    assert len(finals) == len(ids) and all(n == 1 for _, n in finals)
    assert all(total == Decimal(0) for _, total in sums), sums
    return {str(k): int(v) for k, v in statuses.items()}


def test_a_burst_of_single_commands_settles_with_fewer_tasks_each_command_once(
        service_env: dict[str, str], tmp_path: Path) -> None:
    from tasks.celery_app import celery_app  # noqa: PLC0415

    accounts = [party("burst") for _ in range(10)]
    for account in accounts:
        fund(account, "300.00")
    # Amounts that overdraw some accounts part of the way: refusals in the same units of work.
    ids = [submit(accounts[n % 10], accounts[(n * 3 + 1) % 10], f"{(n % 17) + 1}.00")
           for n in range(BURST)]
    for command_id in ids:
        celery_app.send_task("settlement.process_command", kwargs={"command_id": command_id},
                             task_id=command_id, queue=QUEUE)
    worker = Worker(service_env, tmp_path / "worker.log", queues=QUEUE).start()
    try:
        wait_for(lambda: sum(c.status in ("settled", "failed") for c in stored(ids).values())
                 == BURST, timeout=90, interval=0.2, what="the burst terminal")
        # Every command's own task has run too (found its command terminal): a second effect
        # would be written by now.
        drain((QUEUE,), timeout=90)
    finally:
        worker.stop()

    statuses = exactly_once(ids)
    assert set(statuses) <= {"settled", "failed"} and statuses.get("settled", 0) > 0
    commands = stored(ids)
    settlers = Counter(c.settled_by for c in commands.values())
    # Each settler is the task (task id = command id) of one of the burst's commands.
    assert set(settlers) <= set(ids)
    assert sum(settlers.values()) == BURST
    assert len(settlers) <= BURST // 4, settlers
    assert max(settlers.values()) > 1
    for c in commands.values():
        assert c.status != "settled" or c.validated_at == c.settling_at == c.settled_at
        # A task takes only commands received before its clock read: no settled_at before
        # received_at.
        assert (c.settled_at or c.failed_at or c.received_at) >= c.received_at


def test_it_takes_single_commands_oldest_first_after_its_own(service_env: dict[str, str]) -> None:
    payer, payee = party("oldest"), party("payee")
    fund(payer, "10.00")
    own = deposit(party("own"), "1.00")
    # Each accepted in its own unit of work, so each has its own received_at.
    older = submit(payer, payee, "6.00")
    newer = submit(payer, payee, "6.00")
    with unit_of_work() as session:
        result = settlement.settle_batch(session, [own], datetime.now(UTC), get_settings(),
                                         "taker", take_waiting=1000)
    assert result.taken.index(older) < result.taken.index(newer)
    outcomes = {o.command_id: (o.status, o.reason) for o in result.outcomes}
    assert outcomes[own] == ("settled", None)
    assert outcomes[older] == ("settled", None)
    assert outcomes[newer] == ("failed", "insufficient_funds")
    assert [o.command_id for o in result.outcomes][:1] == [own]
    commands = stored([own, older, newer])
    assert {commands[i].settled_by for i in (own, older, newer)} == {"taker"}


def test_it_leaves_batch_held_and_resent_commands_to_their_own_tasks(
        service_env: dict[str, str]) -> None:
    payer, payee, held_payee = party("leave"), party("payee"), party("held")
    fund(payer, "100.00")
    hold_for_review(held_payee)
    held = submit(payer, held_payee, "1.00")
    with unit_of_work() as session:
        outcome = settlement.process_command(session, held, datetime.now(UTC), get_settings())
    assert (outcome.status, outcome.reason) == ("received", "compliance_review")
    resent = submit(payer, payee, "1.00")
    with unit_of_work() as session:  # what the sweeper does when it sends a command again
        session.execute(update(Command).where(Command.command_id == resent)
                        .values(enqueue_count=1))
    item = SettlementCommand.model_validate({
        "command_id": str(uuid.uuid4()), "type": "COLLATERAL_TRANSFER", "workflow_id": "leave",
        "account_ref": "leave", "payer": payer, "payee": payee, "asset": "USD",
        "amount": "1.00", "deadline": "2999-01-01T00:00:00+00:00"}).model_dump()
    with unit_of_work() as session:
        submission = command_batches.submit_batch(
            session, get_settings().asset_decimals, [(0, item)], 1)
    in_batch = submission.created[0]
    single = submit(payer, payee, "1.00")

    with unit_of_work() as session:
        result = settlement.settle_batch(session, [deposit(party("own"), "1.00")],
                                         datetime.now(UTC), get_settings(), "taker",
                                         take_waiting=1000)
    assert single in result.taken
    assert not {held, resent, in_batch} & set(result.taken)
    commands = stored([held, resent, in_batch, single])
    assert [commands[i].status for i in (held, resent, in_batch)] == ["received"] * 3
    assert commands[in_batch].batch_id == submission.batch_id
    assert (commands[single].status, commands[single].settled_by) == ("settled", "taker")


def test_without_take_waiting_a_task_settles_only_its_own(service_env: dict[str, str]) -> None:
    payer, payee = party("alone"), party("payee")
    fund(payer, "10.00")
    waiting = submit(payer, payee, "1.00")
    own = submit(payer, payee, "1.00")
    with unit_of_work() as session:
        result = settlement.settle_batch(session, [own], datetime.now(UTC), get_settings(),
                                         own)
    assert result.taken == [] and [o.command_id for o in result.outcomes] == [own]
    assert stored([waiting])[waiting].status == "received"
    with unit_of_work() as session:  # not left for the next test's tasks to take
        settlement.process_command(session, waiting, datetime.now(UTC), get_settings())
