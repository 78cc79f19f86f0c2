"""Prices: idempotent per asset and timestamp, the latest only moves forward, PriceUpdated through
the risk-prices route, and a flood of ticks coalesced into one recompute of the newest price."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.domain.risk.margin import Position
from app.messaging.routing import route
from app.persistence.db import unit_of_work
from app.persistence.risk_models import RiskBatch, RiskPrice, RiskPriceHistory
from tests.integration.test_risk_margin import account, asset, hold, snapshots_of
from tests.messages import encode
from tests.support import Worker, drain, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("service_env")]
D = Decimal


def record(symbol: str, value: str, at: datetime) -> str:
    from app.services.risk import prices  # noqa: PLC0415

    with unit_of_work() as session:
        return prices.record_price(session, asset=symbol, price_usd=D(value), timestamp=at,
                                   source="test", now=datetime.now(UTC)).outcome


def latest(symbol: str) -> RiskPrice:
    with unit_of_work() as session:
        row = session.get(RiskPrice, symbol)
        assert row is not None
        return row


def batches_for(symbol: str) -> int:
    with unit_of_work() as session:
        return int(session.scalar(select(func.count()).select_from(RiskBatch)
                                  .where(RiskBatch.asset == symbol)) or 0)


def test_a_tick_is_stored_once_per_asset_and_timestamp() -> None:
    coin, at = asset(), datetime.now(UTC)
    assert record(coin, "100.5", at) == "latest"
    assert record(coin, "100.50", at) == "duplicate"  # the same price, written differently
    assert record(coin, "101", at) == "conflict"  # first report kept
    assert record(coin, "99", at - timedelta(seconds=5)) == "historical"
    assert latest(coin).price_usd == D("100.5")
    assert record(coin, "102", at + timedelta(seconds=1)) == "latest"
    assert latest(coin).price_usd == D("102")
    with unit_of_work() as session:
        stored = session.scalar(select(func.count()).select_from(RiskPriceHistory)
                                .where(RiskPriceHistory.asset == coin))
    assert stored == 3


def test_ticks_in_a_row_request_one_recompute_which_takes_the_newest() -> None:
    from app.services.risk import prices  # noqa: PLC0415

    coin, who, start = asset(), account(), datetime.now(UTC) - timedelta(seconds=60)
    hold(who, Position(coin, collateral=D(1)))
    requested = []
    for n in range(50):
        with unit_of_work() as session:
            outcome = prices.record_price(session, asset=coin, price_usd=D(100 + n),
                                          timestamp=start + timedelta(seconds=n), source="t",
                                          now=datetime.now(UTC))
        requested.append(outcome.recompute_seq)
    assert requested[0] == 1 and requested[1:] == [None] * 49
    with unit_of_work() as session:
        claim = prices.claim_recompute(session, coin, now=datetime.now(UTC), chunk_size=100)
    assert claim.outcome == "started" and claim.seq == 50 and claim.plan is not None
    with unit_of_work() as session:  # the same queued task delivered twice
        again = prices.claim_recompute(session, coin, now=datetime.now(UTC), chunk_size=100)
    assert again.outcome == "superseded"
    assert batches_for(coin) == 1


def test_price_updated_events_through_the_risk_prices_route(worker: Worker) -> None:
    from tasks.celery_app import celery_app, send_routed  # noqa: PLC0415

    coin, at = asset(), datetime.now(UTC).replace(microsecond=0)
    data = {"asset_symbol": coin.lower(), "price_usd": "2500.25", "source": "feed",
            "timestamp": at.isoformat()}
    for fmt in ("cloudevents", "flat", "event_name"):
        raw, attributes = encode("PriceUpdated", data, fmt)
        routed = route("risk-prices", raw, attributes, f"m-{fmt}")
        assert routed.task_name == "risk.apply_price"
        send_routed(routed)
        celery_app.AsyncResult(routed.task_id).get(timeout=30)
    assert latest(coin).price_usd == D("2500.25")
    assert latest(coin).price_time == at


def test_a_flood_of_ticks_is_coalesced_into_few_recomputes_of_the_newest(
        worker: Worker) -> None:
    from tasks.celery_app import send_routed  # noqa: PLC0415

    coin, holders = asset(), [account("flood") for _ in range(3)]
    for who in holders:
        hold(who, Position(coin, collateral=D(2)), Position("USD", borrowed=D(100)))
    start, ticks = datetime.now(UTC) - timedelta(seconds=120), 300
    for n in range(ticks):
        data = {"asset_symbol": coin, "price_usd": f"{1000 + n}",
                "timestamp": (start + timedelta(milliseconds=100 * n)).isoformat()}
        raw, attributes = encode("PriceUpdated", data, "cloudevents")
        send_routed(route("risk-prices", raw, attributes, f"m{n}"))
    wait_for(lambda: latest(coin).price_usd == D(1000 + ticks - 1), timeout=120,
             what="the newest tick applied")
    drain(("risk", "batch"), timeout=120)
    last = latest(coin)
    # Two worker processes apply ticks out of order at times: a late one is history only, so
    # the latest moved at most `ticks` times; the last recompute took the last move.
    assert last.recompute_requested_at is None and last.recomputed_seq == last.tick_seq
    # One recompute per tick would be 300 batches; the queued recompute waits behind the
    # ticks and takes the newest, so only a handful ever run.
    assert 1 <= batches_for(coin) <= 5
    for who in holders:
        final = snapshots_of(who)[-1]
        assert final.total_collateral_usd == 2 * D(1000 + ticks - 1)


def test_a_recompute_waits_while_a_batch_for_its_asset_runs() -> None:
    from app.services.risk import batch, prices  # noqa: PLC0415

    coin, who = asset(), account()
    hold(who, Position(coin, collateral=D(1)))
    record(coin, "10", datetime.now(UTC) - timedelta(seconds=2))
    with unit_of_work() as session:
        running = prices.claim_recompute(session, coin, now=datetime.now(UTC), chunk_size=10)
    assert running.outcome == "started" and running.plan is not None
    record(coin, "11", datetime.now(UTC) - timedelta(seconds=1))  # while its batch runs
    with unit_of_work() as session:
        waiting = prices.claim_recompute(session, coin, now=datetime.now(UTC), chunk_size=10)
    assert waiting.outcome == "deferred"
    for chunk_no in running.plan.chunk_nos:
        with unit_of_work() as session:
            batch.run_chunk(session, running.plan.batch_id, chunk_no, now=datetime.now(UTC),
                            max_age=timedelta(minutes=5))
    with unit_of_work() as session:
        after = prices.claim_recompute(session, coin, now=datetime.now(UTC), chunk_size=10)
    assert after.outcome == "started" and after.seq == 2
