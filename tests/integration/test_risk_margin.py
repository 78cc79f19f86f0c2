"""Margin recalculation on real PostgreSQL and a real worker: snapshots and alerts in the outbox,
events only on status changes, one event per change when recalculations race, UNKNOWN on a
stale price, the set-based path agreeing with the single-account one."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from app.domain.risk.margin import Position
from app.persistence.db import unit_of_work
from app.persistence.models import OutboxEvent
from app.persistence.risk_models import RiskMarginEvent, RiskSnapshot
from tests.support import Worker, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("service_env")]
MAX_AGE = timedelta(minutes=5)
D = Decimal


def asset() -> str:
    """An asset symbol of this test alone: price moves of other tests never touch it."""
    return "T" + uuid.uuid4().hex[:8].upper()


def account(prefix: str = "risk") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def price(symbol: str, value: str, *, age: timedelta = timedelta(0)) -> None:
    from app.services.risk import prices  # noqa: PLC0415

    now = datetime.now(UTC)
    with unit_of_work() as session:
        prices.record_price(session, asset=symbol, price_usd=D(value), timestamp=now - age,
                            source="test", now=now)


def hold(account_id: str, *positions: Position) -> None:
    from app.services.risk.positions import replace_positions  # noqa: PLC0415

    with unit_of_work() as session:
        replace_positions(session, account_id, list(positions))


def recompute(account_id: str) -> Any:
    from app.services.risk import margin  # noqa: PLC0415

    with unit_of_work() as session:
        return margin.recompute_account(session, account_id, now=datetime.now(UTC),
                                        max_age=MAX_AGE, cause="test")


def events_of(account_id: str) -> list[str]:
    with unit_of_work() as session:
        return list(session.scalars(
            select(RiskMarginEvent.event_type).where(RiskMarginEvent.account_id == account_id)
            .order_by(RiskMarginEvent.occurred_at)))


def outbox_of(account_id: str, topic: str) -> list[OutboxEvent]:
    with unit_of_work() as session:
        return list(session.scalars(
            select(OutboxEvent).where(OutboxEvent.aggregate_id == account_id,
                                      OutboxEvent.topic == topic).order_by(OutboxEvent.seq)))


def snapshots_of(account_id: str) -> list[RiskSnapshot]:
    with unit_of_work() as session:
        return list(session.scalars(select(RiskSnapshot).where(
            RiskSnapshot.account_id == account_id).order_by(RiskSnapshot.id)))


def test_a_recalculation_task_stores_a_snapshot_and_publishes_it(worker: Worker) -> None:
    from tasks.risk import send_margin_recompute  # noqa: PLC0415

    coin, who = asset(), account()
    price(coin, "4000")
    price("USDC", "1")
    hold(who, Position(coin, collateral=D(5)), Position("USDC", borrowed=D(15_000)))
    send_margin_recompute(who)
    snapshot = wait_for(lambda: next(iter(snapshots_of(who)), None), what="snapshot stored")
    assert snapshot.status == "WARNING"
    assert (snapshot.total_collateral_usd, snapshot.total_borrow_usd) == (D(20_000), D(15_000))
    assert snapshot.liquidation_price_drop_percent == D("13.75")
    published = outbox_of(who, "risk.snapshots.v1")
    assert [row.event_type for row in published] == ["margin.snapshot"]
    assert published[0].payload["health_score"] == "33.33"
    assert published[0].payload["status"] == "WARNING"
    alert = wait_for(lambda: next(iter(outbox_of(who, "alerts.margin.v1")), None),
                     what="alert in the outbox")
    assert alert.event_type == "margin_warning"
    assert events_of(who) == ["margin_warning"]


def test_healthy_warning_call_healthy_gives_warning_call_recovered() -> None:
    coin, who = asset(), account()
    hold(who, Position(coin, collateral=D(10)), Position("USD", borrowed=D(1000)))
    statuses = []
    for value in ("200", "140", "120", "160", "160"):  # C = 2000, 1400, 1200, 1600 vs B = 1000
        price(coin, value)
        statuses.append(recompute(who).health.status.value)
    assert statuses == ["HEALTHY", "WARNING", "MARGIN_CALL", "HEALTHY", "HEALTHY"]
    assert events_of(who) == ["margin_warning", "margin_call", "margin_recovered"]
    alerts = outbox_of(who, "alerts.margin.v1")
    assert [a.event_type for a in alerts] == events_of(who)
    assert [a.payload["severity"] for a in alerts] == ["medium", "high", "low"]
    call = alerts[1].payload
    assert call["account_id"] == who and call["status"] == "MARGIN_CALL"
    assert (call["health_score"], call["previous_health_score"]) == ("20.00", "40.00")
    assert (call["total_collateral_usd"], call["total_borrow_usd"]) == ("1200.00", "1000.00")
    assert call["liquidation_price_drop_percent"] == "4.17"  # (1200 - 1150) / 1200
    assert set(call) >= {"event_id", "event_type", "message", "occurred_at"}
    assert len(outbox_of(who, "risk.snapshots.v1")) == 5


def test_a_stale_price_gives_unknown_and_no_alert() -> None:
    stale_coin, other = asset(), account()
    hold(other, Position(stale_coin, collateral=D(1)), Position("USD", borrowed=D(1000)))
    price(stale_coin, "500", age=MAX_AGE + timedelta(minutes=1))  # would be LIQUIDATION
    result = recompute(other)
    assert result.health.status.value == "UNKNOWN"
    assert result.health.unpriced_assets == (stale_coin,)
    assert events_of(other) == []
    snapshot = snapshots_of(other)[-1]
    assert (snapshot.status, snapshot.health_score, snapshot.unpriced_assets) == (
        "UNKNOWN", None, [stale_coin])


def test_unknown_does_not_reset_the_baseline_of_margin_events() -> None:
    coin, who = asset(), account()
    hold(who, Position(coin, collateral=D(1)), Position("USD", borrowed=D(1000)))
    price(coin, "1400")
    recompute(who)  # WARNING
    with unit_of_work() as session:  # the price goes stale
        from app.persistence.risk_models import RiskPrice  # noqa: PLC0415

        row = session.get(RiskPrice, coin)
        assert row is not None
        row.price_time = datetime.now(UTC) - MAX_AGE - timedelta(seconds=5)
    assert recompute(who).health.status.value == "UNKNOWN"
    price(coin, "1400")
    assert recompute(who).health.status.value == "WARNING"
    assert events_of(who) == ["margin_warning"]  # not a second warning after UNKNOWN


def test_racing_recalculations_emit_one_event_per_change() -> None:
    coin, who = asset(), account()
    hold(who, Position(coin, collateral=D(1)), Position("USD", borrowed=D(1000)))
    price(coin, "2000")
    recompute(who)
    price(coin, "1100")  # into LIQUIDATION
    barrier, errors = threading.Barrier(8), []

    def race() -> None:
        try:
            barrier.wait()
            recompute(who)
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=race) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert events_of(who) == ["liquidation_imminent"]
    assert len(snapshots_of(who)) == 9


def test_racing_tasks_on_the_worker_emit_one_event(worker: Worker) -> None:
    from tasks.risk import send_margin_recompute  # noqa: PLC0415

    coin, who = asset(), account()
    hold(who, Position(coin, collateral=D(1)), Position("USD", borrowed=D(1000)))
    price(coin, "2000")
    recompute(who)
    price(coin, "1350")  # into WARNING
    for _ in range(10):
        send_margin_recompute(who)
    wait_for(lambda: len(snapshots_of(who)) == 11, what="ten recalculations")
    assert events_of(who) == ["margin_warning"]
    assert len(outbox_of(who, "alerts.margin.v1")) == 1


def test_the_set_based_path_gives_the_single_account_figures() -> None:
    from app.services.risk import batch  # noqa: PLC0415

    coin, people = asset(), [account("same") for _ in range(5)]
    price(coin, "3123.456789012345678")
    for n, who in enumerate(people):
        hold(who, Position(coin, collateral=D("1.123456789012345678") * (n + 1)),
             Position("USD", borrowed=D("2999.99") * (n + 1)), Position("ETH"))
    for who in people:
        recompute(who)
    singles = {who: snapshots_of(who)[-1] for who in people}
    now = datetime.now(UTC)
    with unit_of_work() as session:
        plan = batch.start_batch(session, scope="asset", asset=coin, trigger="cli", now=now,
                                 chunk_size=2)
    assert plan is not None and plan.total_accounts == 5 and len(plan.chunk_nos) == 3
    for chunk_no in plan.chunk_nos:
        with unit_of_work() as session:
            batch.run_chunk(session, plan.batch_id, chunk_no, now=now, max_age=MAX_AGE)
    for who in people:
        single, batched = singles[who], snapshots_of(who)[-1]
        assert (single.batch_id, batched.batch_id) == (None, plan.batch_id)
        for column in ("status", "health_score", "total_collateral_usd", "total_borrow_usd",
                       "liquidation_price_drop_percent", "initial_margin_usd"):
            assert getattr(batched, column) == getattr(single, column), column
