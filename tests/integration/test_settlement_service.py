"""The settlement service on the real database, without a worker: concurrency, replays,
refusals and the outcome events they leave."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, text

from tests.integration.conftest import count, fund, in_an_hour, party, posted

pytestmark = pytest.mark.usefixtures("service_env")


def submit(payer: str, payee: str, amount: str, *, asset: str = "USD") -> str:
    from app.config import get_settings  # noqa: PLC0415
    from app.persistence.db import unit_of_work  # noqa: PLC0415
    from app.persistence.models import new_id  # noqa: PLC0415
    from app.services import intake  # noqa: PLC0415

    with unit_of_work() as session:
        return intake.submit_settlement_command(
            session, get_settings().asset_decimals, command_id=new_id(),
            type="COLLATERAL_TRANSFER", workflow_id="wf-service", account_ref="ref",
            payer=payer, payee=payee, asset=asset, amount=amount,
            deadline=in_an_hour()).command_id


def settle(command_id: str) -> Any:
    from app.config import get_settings  # noqa: PLC0415
    from app.persistence.db import unit_of_work  # noqa: PLC0415
    from app.services import settlement  # noqa: PLC0415

    with unit_of_work() as session:
        return settlement.process_command(session, command_id, datetime.now(UTC),
                                          get_settings())


def outcome_events(command_id: str) -> list[str]:
    from app.persistence.db import unit_of_work  # noqa: PLC0415
    from app.persistence.models import OutboxEvent  # noqa: PLC0415

    with unit_of_work() as session:
        return list(session.scalars(
            select(OutboxEvent.event_type).where(OutboxEvent.aggregate_id == command_id,
                                                 OutboxEvent.event_type != "command.accepted")))


def test_opposite_transfers_settled_concurrently_neither_deadlock_nor_drift() -> None:
    alice, bob = party("alice"), party("bob")
    fund(alice, "100.00")
    fund(bob, "100.00")
    rounds = 30
    forward = [submit(alice, bob, "1.00") for _ in range(rounds)]
    back = [submit(bob, alice, "2.00") for _ in range(rounds)]
    errors: list[BaseException] = []

    def run(ids: list[str]) -> None:
        for command_id in ids:
            try:
                assert settle(command_id).status == "settled"
            except BaseException as exc:  # a deadlock would surface here
                errors.append(exc)

    threads = [threading.Thread(target=run, args=(ids,)) for ids in (forward, back)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert posted(alice) == Decimal("100.00") - rounds * Decimal("1.00") + rounds * Decimal("2.00")
    assert posted(bob) == Decimal("100.00") + rounds * Decimal("1.00") - rounds * Decimal("2.00")


def test_settling_again_returns_the_first_outcome_and_moves_nothing() -> None:
    from app.persistence.models import LedgerTransfer  # noqa: PLC0415

    payer, payee = party("payer"), party("payee")
    fund(payer, "5.00")
    command_id = submit(payer, payee, "5.00")
    assert settle(command_id).as_dict() == {"command_id": command_id, "status": "settled",
                                            "reason": None}
    assert settle(command_id).status == "settled"
    assert posted(payee) == Decimal("5.00")
    assert count(LedgerTransfer, LedgerTransfer.transfer_id.startswith(command_id)) == 1
    assert outcome_events(command_id) == ["command.settled"]


def test_insufficient_funds_fails_the_command_and_writes_no_transfer() -> None:
    from app.persistence.models import LedgerTransfer  # noqa: PLC0415

    payer, payee = party("payer"), party("payee")
    fund(payer, "1.00")
    command_id = submit(payer, payee, "1.01")
    outcome = settle(command_id)
    assert (outcome.status, outcome.reason) == ("failed", "insufficient_funds")
    assert count(LedgerTransfer, LedgerTransfer.transfer_id.startswith(command_id)) == 0
    assert posted(payer) == Decimal("1.00")
    assert outcome_events(command_id) == ["command.failed"]


def test_a_command_of_another_kind_is_not_settled_here() -> None:
    from app.config import get_settings  # noqa: PLC0415
    from app.domain.errors import Conflict  # noqa: PLC0415
    from app.persistence.db import unit_of_work  # noqa: PLC0415
    from app.services import intake  # noqa: PLC0415

    with unit_of_work() as session:
        escrow = intake.request_escrow(
            session, get_settings().asset_decimals, payer=party("payer"),
            payee=party("payee"), arbiter=None, amount="1.00", asset="USD",
            release_delay_seconds=60, approvals_required=1)
    with pytest.raises(Conflict) as refused:
        settle(escrow.command_id)
    assert refused.value.code == "wrong_command_type"


def test_a_dvp_moves_both_legs_on_the_balances_locked_with_the_command() -> None:
    from app.config import get_settings  # noqa: PLC0415
    from app.persistence.db import unit_of_work  # noqa: PLC0415
    from app.persistence.models import new_id  # noqa: PLC0415
    from app.services import intake  # noqa: PLC0415

    buyer, seller = party("buyer"), party("seller")
    fund(buyer, "100.00")
    fund(seller, "3", asset="BTC")
    fund(buyer, "0.5", asset="BTC")  # every balance the DVP moves exists before it runs
    fund(seller, "1.00")
    with unit_of_work() as session:
        command_id = intake.submit_settlement_command(
            session, get_settings().asset_decimals, command_id=new_id(), type="DVP",
            workflow_id="wf-service", account_ref="ref", payer=buyer, payee=seller,
            asset="USD", amount="60.00", deadline=in_an_hour(), counter_asset="BTC",
            counter_amount="2").command_id
    assert settle(command_id).status == "settled"
    assert (posted(buyer), posted(buyer, "BTC")) == (Decimal("40.00"), Decimal("2.5"))
    assert (posted(seller), posted(seller, "BTC")) == (Decimal("61.00"), Decimal("1"))


def test_replaying_a_settled_command_takes_no_balance_lock() -> None:
    from app.persistence.db import unit_of_work  # noqa: PLC0415

    payer, payee = party("payer"), party("payee")
    fund(payer, "5.00")
    command_id = submit(payer, payee, "1.00")
    assert settle(command_id).status == "settled"
    replayed: list[Any] = []
    with unit_of_work() as holder:  # another unit of work holds both balances meanwhile
        holder.execute(text("SELECT 1 FROM ledger_balances WHERE account_id IN (:a, :b) "
                            "FOR UPDATE"), {"a": payer, "b": payee})
        replay = threading.Thread(target=lambda: replayed.append(settle(command_id)))
        replay.start()
        replay.join(10)
        assert not replay.is_alive(), "the replay waited for a balance lock"
    assert replayed[0].status == "settled"
    assert posted(payee) == Decimal("1.00")
