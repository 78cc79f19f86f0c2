"""Each settlement task on a real worker: its effect, its idempotency, its refusals."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from app.config import get_settings
from app.domain.commands import CommandType
from app.persistence.db import unit_of_work
from app.persistence.models import (
    Command,
    EscrowApproval,
    EscrowRecord,
    LedgerTransfer,
    OutboxEvent,
)
from app.services import intake
from tests.integration.conftest import count, fund, in_an_hour, party, posted, wait_for_command
from tests.support import wait_for

pytestmark = pytest.mark.integration
Run = Callable[[str, str], dict[str, Any]]


def new_escrow(run: Run, *, amount: str = "100.00", approvals: int = 1, delay: int = 0,
               arbiter: bool = False) -> dict[str, str]:
    payer, payee = party("payer"), party("payee")
    arb = party("arbiter") if arbiter else None
    fund(payer, "1000.00")
    with unit_of_work() as session:
        accepted = intake.request_escrow(
            session, get_settings().asset_decimals, payer=payer, payee=payee, arbiter=arb,
            amount=amount, asset="USD", release_delay_seconds=delay, approvals_required=approvals)
    assert run("settlement.create_escrow", accepted.command_id)["status"] == "settled"
    assert accepted.escrow_id is not None
    return {"escrow_id": accepted.escrow_id, "payer": payer, "payee": payee, "arbiter": arb or ""}


def action(escrow_id: str, kind: CommandType, **payload: str) -> str:
    with unit_of_work() as session:
        return intake.request_escrow_action(session, escrow_id, kind, payload).command_id


def escrow_status(escrow_id: str) -> str:
    with unit_of_work() as session:
        record = session.get(EscrowRecord, escrow_id)
        assert record is not None
        return record.status


def test_create_escrow_holds_the_amount_as_a_pending_transfer(run: Run) -> None:
    escrow = new_escrow(run, amount="120.25")
    with unit_of_work() as session:
        record = session.get(EscrowRecord, escrow["escrow_id"])
        assert record is not None and record.status == "created"
        transfer = session.get(LedgerTransfer, record.funding_transfer_id)
        assert transfer is not None
        assert (transfer.status, transfer.amount) == ("pending", Decimal("120.25"))
    assert posted(escrow["payer"]) == Decimal("1000.00")


def test_escrow_beyond_the_balance_fails_with_insufficient_funds(run: Run) -> None:
    payer = party("poor")
    fund(payer, "10.00")
    with unit_of_work() as session:
        accepted = intake.request_escrow(
            session, get_settings().asset_decimals, payer=payer, payee=party("payee"),
            arbiter=None, amount="10.01", asset="USD", release_delay_seconds=0,
            approvals_required=1)
    assert run("settlement.create_escrow", accepted.command_id) == {
        "status": "failed", "reason": "insufficient_funds"}
    assert count(EscrowRecord, EscrowRecord.escrow_id == accepted.escrow_id) == 0


def test_approve_release_and_refund_tasks(run: Run) -> None:
    released = new_escrow(run, approvals=2)
    for who in ("payer", "payee"):
        command = action(released["escrow_id"], CommandType.ESCROW_APPROVE, approver=released[who])
        assert run("settlement.approve_escrow", command)["status"] == "settled"
    assert escrow_status(released["escrow_id"]) == "approved"
    command = action(released["escrow_id"], CommandType.ESCROW_RELEASE)
    assert run("settlement.release_escrow", command)["status"] == "settled"
    assert escrow_status(released["escrow_id"]) == "released"
    assert posted(released["payee"]) == Decimal("100.00")
    assert posted(released["payer"]) == Decimal("900.00")

    refunded = new_escrow(run)
    time.sleep(1.1)  # the test grace is 1 s after a release time of now
    command = action(refunded["escrow_id"], CommandType.ESCROW_REFUND,
                     requested_by=refunded["payer"])
    assert run("settlement.refund_escrow", command)["status"] == "settled"
    assert escrow_status(refunded["escrow_id"]) == "refunded"
    assert posted(refunded["payer"]) == Decimal("1000.00")


def test_refund_by_someone_else_and_release_without_approval_are_refused(run: Run) -> None:
    escrow = new_escrow(run, approvals=1)
    command = action(escrow["escrow_id"], CommandType.ESCROW_REFUND, requested_by=escrow["payee"])
    assert run("settlement.refund_escrow", command) == {
        "status": "failed", "reason": "refund_not_by_payer"}
    command = action(escrow["escrow_id"], CommandType.ESCROW_RELEASE)
    assert run("settlement.release_escrow", command) == {"status": "failed",
                                                         "reason": "not_approved"}
    assert escrow_status(escrow["escrow_id"]) == "created"


def test_the_same_task_delivered_twice_has_one_effect(run: Run) -> None:
    from tasks.celery_app import celery_app  # noqa: PLC0415

    payer, payee = party("dup-payer"), party("dup-payee")
    fund(payer, "50.00")
    with unit_of_work() as session:
        accepted = intake.submit_settlement_command(
            session, get_settings().asset_decimals, command_id=str(uuid.uuid4()),
            type="COLLATERAL_TRANSFER", workflow_id="wf", account_ref="acc", payer=payer,
            payee=payee, asset="USD", amount="30.00", deadline=in_an_hour())
    # Two distinct deliveries of the same command, as a broker redelivery would make.
    for task_id in (accepted.command_id, f"{accepted.command_id}-redelivery"):
        celery_app.send_task("settlement.process_command",
                             kwargs={"command_id": accepted.command_id}, task_id=task_id)
    assert wait_for_command(accepted.command_id)["status"] == "settled"
    result = celery_app.AsyncResult(f"{accepted.command_id}-redelivery").get(timeout=30)
    assert result["status"] == "settled"
    assert posted(payee) == Decimal("30.00")
    assert posted(payer) == Decimal("20.00")
    assert count(LedgerTransfer, LedgerTransfer.transfer_id.startswith(accepted.command_id)) == 1
    assert count(OutboxEvent, OutboxEvent.aggregate_id == accepted.command_id,
                 OutboxEvent.event_type == "command.settled") == 1


def test_twenty_concurrent_approvals_count_each_party_once(run: Run) -> None:
    from tasks.celery_app import send_command_task  # noqa: PLC0415

    escrow = new_escrow(run, approvals=3, arbiter=True)
    parties = [escrow["payer"], escrow["payee"], escrow["arbiter"]]
    commands = [action(escrow["escrow_id"], CommandType.ESCROW_APPROVE, approver=parties[i % 3])
                for i in range(20)]
    for command_id in commands:
        send_command_task("settlement.approve_escrow", command_id)
    outcomes = [wait_for_command(c)["status"] for c in commands]
    assert outcomes == ["settled"] * 20
    assert count(EscrowApproval, EscrowApproval.escrow_id == escrow["escrow_id"]) == 3
    assert escrow_status(escrow["escrow_id"]) == "approved"
    changed_to_approved = [
        e for e in _events(escrow["escrow_id"]) if e.payload["status"] == "approved"]
    assert len(changed_to_approved) == 1


def _events(aggregate_id: str) -> list[OutboxEvent]:
    with unit_of_work() as session:
        return list(session.query(OutboxEvent).filter(OutboxEvent.aggregate_id == aggregate_id))


def test_dvp_settles_both_legs_or_neither(run: Run) -> None:
    buyer, seller = party("buyer"), party("seller")
    fund(buyer, "3000.00")
    fund(seller, "1.5", asset="ETH")

    def dvp(eth: str) -> str:
        with unit_of_work() as session:
            return intake.submit_settlement_command(
                session, get_settings().asset_decimals, command_id=str(uuid.uuid4()),
                type="DVP", workflow_id="wf-dvp", account_ref="acc", payer=buyer, payee=seller,
                asset="USD", amount="1000.00", deadline=in_an_hour(), counter_asset="ETH",
                counter_amount=eth).command_id

    assert run("settlement.process_command", dvp("1.0"))["status"] == "settled"
    assert (posted(buyer), posted(buyer, "ETH")) == (Decimal("2000.00"), Decimal("1.0"))
    assert (posted(seller), posted(seller, "ETH")) == (Decimal("1000.00"), Decimal("0.5"))

    # The seller has 0.5 ETH left: the delivery leg fails, so the payment leg must not stay.
    assert run("settlement.process_command", dvp("0.6")) == {
        "status": "failed", "reason": "insufficient_funds"}
    assert (posted(buyer), posted(seller)) == (Decimal("2000.00"), Decimal("1000.00"))
    assert posted(seller, "ETH") == Decimal("0.5")


def test_a_command_past_its_deadline_fails(run: Run) -> None:
    payer = party("late")
    fund(payer, "10.00")
    with unit_of_work() as session:
        accepted = intake.submit_settlement_command(
            session, get_settings().asset_decimals, command_id=str(uuid.uuid4()),
            type="COLLATERAL_TRANSFER", workflow_id="wf", account_ref="acc", payer=payer,
            payee=party("to"), asset="USD", amount="1.00",
            deadline=datetime.now(UTC) - timedelta(seconds=1))
    assert run("settlement.process_command", accepted.command_id) == {
        "status": "failed", "reason": "deadline_exceeded"}
    assert posted(payer) == Decimal("10.00")


def test_sweeper_runs_a_command_the_broker_never_got(worker: Any) -> None:
    from tasks.celery_app import celery_app  # noqa: PLC0415

    payer, payee = party("lost"), party("found")
    fund(payer, "5.00")
    with unit_of_work() as session:  # accepted and committed, but never enqueued
        accepted = intake.submit_settlement_command(
            session, get_settings().asset_decimals, command_id=str(uuid.uuid4()),
            type="COLLATERAL_TRANSFER", workflow_id="wf", account_ref="acc", payer=payer,
            payee=payee, asset="USD", amount="5.00", deadline=in_an_hour())
    bound = get_settings().command_sweep_after_seconds

    def swept() -> bool:
        celery_app.send_task("maintenance.sweep_commands").get(timeout=30)
        with unit_of_work() as session:
            command = session.get(Command, accepted.command_id)
            return command is not None and command.status == "settled"

    wait_for(swept, timeout=bound + 30, interval=1.0, what="the sweeper to run the command")
    assert posted(payee) == Decimal("5.00")
