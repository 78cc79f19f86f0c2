"""Batch recompute on the `batch` queue: chunks as a group, progress, a redelivered chunk
changing nothing, the nightly trigger once per night, the CLI, and a worker SIGKILLed mid-run
losing and doubling no chunk."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, text, update

from app.persistence.db import unit_of_work
from app.persistence.models import OutboxEvent
from app.persistence.risk_models import (
    RiskBatch,
    RiskBatchChunk,
    RiskCalculation,
    RiskMarginEvent,
    RiskSnapshot,
)
from tests.integration.test_risk_margin import asset, price
from tests.support import Worker, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("service_env")]


def seed(symbol: str, accounts: int) -> str:
    """`accounts` holders of `symbol`, each borrowing USD, spread over every band."""
    prefix = f"b{uuid.uuid4().hex[:6]}-"
    with unit_of_work() as session:
        session.execute(text(
            "INSERT INTO risk_accounts (account_id) "
            "SELECT :p || lpad(g::text, 6, '0') FROM generate_series(1, :n) AS g"),
            {"p": prefix, "n": accounts})
        session.execute(text(
            "INSERT INTO risk_positions (account_id, asset, collateral, borrowed, escrowed) "
            "SELECT :p || lpad(g::text, 6, '0'), :a, 1 + g % 7, 0, 0 "
            "  FROM generate_series(1, :n) AS g "
            "UNION ALL "
            "SELECT :p || lpad(g::text, 6, '0'), 'USD', 0, 100 + g % 900, 0 "
            "  FROM generate_series(1, :n) AS g"), {"p": prefix, "a": symbol, "n": accounts})
    return prefix


def start(symbol: str, chunk_size: int, trigger: str = "cli") -> Any:
    from app.services.risk import batch  # noqa: PLC0415

    with unit_of_work() as session:
        return batch.start_batch(session, scope="asset", asset=symbol, trigger=trigger,
                                 now=datetime.now(UTC), chunk_size=chunk_size)


def progress(batch_id: str) -> dict[str, Any]:
    from app.services.risk import batch  # noqa: PLC0415

    with unit_of_work() as session:
        return batch.progress(session, batch_id, datetime.now(UTC))


def finished(batch_id: str) -> dict[str, Any] | None:
    state = progress(batch_id)
    return state if state["status"] != "running" else None


def count(model: Any, *where: Any) -> int:
    with unit_of_work() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_a_batch_runs_as_a_group_and_reports_progress(worker: Worker) -> None:
    from tasks.celery_app import celery_app  # noqa: PLC0415
    from tasks.risk import dispatch_chunks  # noqa: PLC0415

    coin = asset()
    price(coin, "150")
    seed(coin, 1000)
    plan = start(coin, chunk_size=150)
    assert plan.total_accounts == 1000 and len(plan.chunk_nos) == 7
    dispatch_chunks(plan.batch_id, plan.chunk_nos)
    state = wait_for(lambda: finished(plan.batch_id), timeout=60, what="batch completed")
    assert state["status"] == "completed"
    assert (state["total"], state["done"], state["failed"], state["remaining"]) == (
        1000, 1000, 0, 0)
    assert state["chunks"] == {"total": 7, "done": 7, "failed": 0}
    assert state["rate_per_second"] > 0 and state["eta_seconds"] == 0
    assert count(RiskSnapshot, RiskSnapshot.batch_id == plan.batch_id) == 1000
    assert count(OutboxEvent, OutboxEvent.topic == "risk.snapshots.v1",
                 OutboxEvent.payload["batch_id"].astext == plan.batch_id) == 1000
    events = count(RiskMarginEvent, RiskMarginEvent.batch_id == plan.batch_id)
    assert events == state["events_emitted"] > 0
    # A chunk delivered again finds itself done and changes nothing.
    again = celery_app.send_task("batch.risk_recompute_chunk",
                                 kwargs={"batch_id": plan.batch_id, "chunk_no": 3})
    assert again.get(timeout=30)["outcome"] == "duplicate"
    assert count(RiskSnapshot, RiskSnapshot.batch_id == plan.batch_id) == 1000


def test_an_empty_batch_is_completed_at_once() -> None:
    plan = start(asset(), chunk_size=100)
    assert plan.chunk_nos == () and progress(plan.batch_id)["status"] == "completed"


def test_the_nightly_recompute_runs_once_per_night(worker: Worker) -> None:
    from tasks.celery_app import celery_app  # noqa: PLC0415

    first = celery_app.send_task("batch.risk_nightly").get(timeout=60)
    second = celery_app.send_task("batch.risk_nightly").get(timeout=60)
    assert first["batch_id"] == second["batch_id"] and second["chunks_sent"] == 0
    wait_for(lambda: finished(first["batch_id"]), timeout=120, what="nightly batch done")
    with unit_of_work() as session:
        nightly = session.get(RiskBatch, first["batch_id"])
        assert nightly is not None and nightly.trigger == "nightly" and nightly.scope == "all"


def test_the_cli_queues_a_batch_and_follows_it_to_the_end(worker: Worker) -> None:
    from cli.main import cli  # noqa: PLC0415

    coin = asset()
    price(coin, "150")
    seed(coin, 300)
    result = CliRunner().invoke(cli, ["risk", "recompute", "--asset", coin])
    assert result.exit_code == 0, result.output
    assert "300 account(s)" in result.output and "completed: 300 done, 0 failed" in result.output
    assert CliRunner().invoke(cli, ["risk", "recompute"]).exit_code == 2


def test_the_sweeper_resends_chunks_and_calculations_whose_send_was_lost(
        worker: Worker) -> None:
    from app.services.risk import calculations  # noqa: PLC0415
    from tasks.celery_app import celery_app  # noqa: PLC0415

    coin = asset()
    price(coin, "150")
    seed(coin, 50)
    plan = start(coin, chunk_size=20)  # planned, never dispatched: as if the process died
    with unit_of_work() as session:
        calc = calculations.accept_calculation(
            session, account_id=None, positions=[], confidence="0.95", horizons=[1],
            scenarios=None)
        long_ago = datetime.now(UTC) - timedelta(minutes=10)
        session.execute(update(RiskBatchChunk).where(RiskBatchChunk.batch_id == plan.batch_id)
                        .values(dispatched_at=long_ago))
        session.execute(update(RiskCalculation).where(
            RiskCalculation.calculation_id == calc).values(created_at=long_ago))
    swept = celery_app.send_task("risk.sweep").get(timeout=60)
    assert swept["chunks"] >= 3 and swept["calculations"] >= 1
    assert wait_for(lambda: finished(plan.batch_id), timeout=60)["done"] == 50
    with unit_of_work() as session:
        wait_for(lambda: session.get(RiskCalculation, calc, populate_existing=True).status
                 == "completed", timeout=60, what="calculation run")


@pytest.mark.fault
def test_a_worker_killed_mid_batch_loses_and_doubles_no_chunk(
        service_env: dict[str, str], tmp_path: Path) -> None:
    from tasks.risk import dispatch_chunks  # noqa: PLC0415

    queue = f"fault-risk-batch-{uuid.uuid4().hex[:6]}"  # only this test's workers consume it
    coin, accounts = asset(), 20_000
    price(coin, "150")
    seed(coin, accounts)
    plan = start(coin, chunk_size=400)
    chunks = len(plan.chunk_nos)
    first = Worker(service_env, tmp_path / "first.log", queues=queue).start()
    dispatch_chunks(plan.batch_id, plan.chunk_nos, queue=queue)
    wait_for(lambda: progress(plan.batch_id)["chunks"]["done"] >= 5, timeout=120,
             what="some chunks done before the kill")
    first.kill()
    at_kill = progress(plan.batch_id)["chunks"]["done"]
    assert at_kill < chunks, "the batch finished before the worker could be killed"

    second = Worker(service_env, tmp_path / "second.log", queues=queue).start()
    try:
        # The killed worker's unacked chunks come back after the visibility timeout.
        state = wait_for(lambda: finished(plan.batch_id), timeout=180, interval=0.5,
                         what="batch completed after the restart")
    finally:
        second.stop()
    assert state["status"] == "completed"
    assert state["chunks"] == {"total": chunks, "done": chunks, "failed": 0}
    assert state["done"] == accounts
    with unit_of_work() as session:
        per_account = session.execute(
            select(RiskSnapshot.account_id, func.count()).where(
                RiskSnapshot.batch_id == plan.batch_id).group_by(RiskSnapshot.account_id)).all()
        assert len(per_account) == accounts and all(n == 1 for _, n in per_account)
        published = session.scalar(select(func.count()).select_from(OutboxEvent).where(
            OutboxEvent.topic == "risk.snapshots.v1",
            OutboxEvent.payload["batch_id"].astext == plan.batch_id))
        assert published == accounts
        events = session.execute(
            select(RiskMarginEvent.account_id, func.count()).where(
                RiskMarginEvent.batch_id == plan.batch_id)
            .group_by(RiskMarginEvent.account_id)).all()
        assert all(n == 1 for _, n in events)
        assert sum(n for _, n in events) == state["events_emitted"]
        undone = session.scalar(select(func.count()).select_from(RiskBatchChunk).where(
            RiskBatchChunk.batch_id == plan.batch_id, RiskBatchChunk.status != "done"))
        assert undone == 0
