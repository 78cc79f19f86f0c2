"""Every batch kind through one read model, on a real worker: list, status, cancel. A cancelled
batch runs no more chunks, even one a worker was holding or one delivered later; chunks done
before stay done. The CLI prints plain lines when not on a terminal."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from select import select as select_fd
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text

from app.domain.errors import Conflict, NotFound
from app.persistence.compliance_models import RescreenChunk, RescreenRun
from app.persistence.db import session_factory, unit_of_work
from app.persistence.risk_models import RiskBatch, RiskBatchChunk
from app.services import batches
from tests.integration.conftest import fund
from tests.integration.test_risk_batch import seed, start
from tests.integration.test_risk_margin import asset, price
from tests.support import ROOT, Worker, drain, wait_for

pytestmark = pytest.mark.integration
SMALL = Path(__file__).resolve().parent.parent / "data" / "ofac-sdn-small"


def chunk_statuses(batch_id: str) -> list[str]:
    with unit_of_work() as session:
        return list(session.scalars(select(RiskBatchChunk.status).where(
            RiskBatchChunk.batch_id == batch_id).order_by(RiskBatchChunk.chunk_no)))


def risk_batch(chunks: int) -> str:
    coin = asset()
    price(coin, "150")
    seed(coin, chunks * 2)
    plan = start(coin, chunk_size=2)
    assert len(plan.chunk_nos) == chunks
    return str(plan.batch_id)


@pytest.fixture
def held_chunk() -> Iterator[Any]:
    """Lock a chunk row as a worker running it would, until the test lets go."""
    session = session_factory()()
    session.begin()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


def test_a_cancelled_risk_batch_runs_no_more_chunks(worker: Worker, held_chunk: Any) -> None:
    from tasks.risk import dispatch_chunks  # noqa: PLC0415

    batch_id = risk_batch(chunks=6)
    dispatch_chunks(batch_id, [0, 1])
    wait_for(lambda: chunk_statuses(batch_id)[:2] == ["done", "done"], what="two chunks")
    # Chunk 2 is "being run" by someone while the cancel happens: the cancel skips it.
    held_chunk.execute(text("SELECT 1 FROM risk_batch_chunks WHERE batch_id = :b "
                            "AND chunk_no = 2 FOR UPDATE"), {"b": batch_id})
    with unit_of_work() as session:
        view = batches.cancel_batch(session, batch_id, datetime.now(UTC))
    assert (view.kind, view.status, view.done, view.total) == ("risk_recompute", "cancelled",
                                                               4, 12)
    held_chunk.rollback()
    assert chunk_statuses(batch_id) == ["done", "done", "pending", "cancelled", "cancelled",
                                        "cancelled"]
    # Every chunk delivered after the cancel (a late group, the sweeper) does nothing.
    dispatch_chunks(batch_id, range(6))
    drain(("batch",))
    assert chunk_statuses(batch_id) == ["done", "done", "cancelled", "cancelled", "cancelled",
                                        "cancelled"]
    with unit_of_work() as session:
        stored = session.get(RiskBatch, batch_id)
        assert stored is not None
        assert (stored.status, stored.chunks_done, stored.accounts_done) == ("cancelled", 2, 4)
        assert stored.finished_at is not None
        with pytest.raises(Conflict):
            batches.cancel_batch(session, batch_id, datetime.now(UTC))
    with unit_of_work() as session:
        assert batches.get_batch(session, f"risk_recompute:{batch_id}").status == "cancelled"
        listed = batches.list_batches(session, kind="risk_recompute", status="cancelled")
        assert batch_id in [v.id for v in listed]
        assert batch_id not in [v.id for v in batches.list_batches(session, status="running")]
        with pytest.raises(NotFound):
            batches.get_batch(session, f"sanctions_rescreen:{batch_id}")


def rescreen_run(parties: int) -> tuple[str, list[int]]:
    """A planned re-screen of the known parties (some new customers), one party a chunk."""
    from app.services.compliance import rescreen  # noqa: PLC0415
    from app.services.compliance.sanctions_loader import load_directory  # noqa: PLC0415

    for _ in range(parties):
        fund(f"rs-{uuid.uuid4().hex[:8]}", "1.00")
    with unit_of_work() as session:
        version = load_directory(session, SMALL, rescreen_after=False).version_id
        run_id = rescreen.start_run(session, version)
    with unit_of_work() as session:
        seqs = rescreen.plan(session, run_id, datetime.now(UTC), chunk_size=1)
    return run_id, seqs


def rescreen_state(run_id: str) -> tuple[str, int, list[bool]]:
    with unit_of_work() as session:
        run = session.get(RescreenRun, run_id)
        assert run is not None
        done = list(session.scalars(select(RescreenChunk.done).where(
            RescreenChunk.run_id == run_id).order_by(RescreenChunk.seq)))
        return run.status, run.chunks_done, done


def test_a_cancelled_rescreen_screens_no_more_parties(worker: Worker) -> None:
    from tasks.celery_app import celery_app  # noqa: PLC0415

    run_id, seqs = rescreen_run(parties=3)
    assert len(seqs) >= 3
    celery_app.send_task("batch.sanctions_rescreen_chunk", kwargs={"run_id": run_id, "seq": 0})
    wait_for(lambda: rescreen_state(run_id)[1] == 1, what="first chunk")
    with unit_of_work() as session:
        view = batches.get_batch(session, run_id)
        assert (view.kind, view.status, view.done) == ("sanctions_rescreen", "running", 1)
        assert batches.cancel_batch(session, run_id, datetime.now(UTC)).status == "cancelled"
    # The planner sends nothing more, and chunks already queued skip.
    celery_app.send_task("batch.sanctions_rescreen", kwargs={"run_id": run_id})
    for seq in seqs:
        celery_app.send_task("batch.sanctions_rescreen_chunk",
                             kwargs={"run_id": run_id, "seq": seq})
    drain(("batch",))
    status, chunks_done, done = rescreen_state(run_id)
    assert (status, chunks_done) == ("cancelled", 1)
    assert done == [True] + [False] * (len(seqs) - 1)
    with unit_of_work() as session:
        view = batches.get_batch(session, f"sanctions_rescreen:{run_id}")
        assert (view.status, view.done, view.finished_at is not None) == ("cancelled", 1, True)


def test_the_cli_lists_shows_and_cancels(worker: Worker) -> None:
    from cli.main import cli  # noqa: PLC0415

    batch_id = risk_batch(chunks=2)
    runner = CliRunner()
    listed = runner.invoke(cli, ["batch", "list", "--kind", "risk_recompute"])
    assert listed.exit_code == 0, listed.output
    header, *rows = listed.output.splitlines()
    assert header.split() == ["id", "kind", "status", "progress", "created"]
    row = next(r for r in rows if r.startswith(batch_id))
    assert row.split()[1:6] == ["risk_recompute", "running", "0/4", "(0.0%),", "0"]
    as_json = runner.invoke(cli, ["batch", "list", "--kind", "risk_recompute", "--json"])
    assert as_json.exit_code == 0, as_json.output
    listed_json = next(b for b in json.loads(as_json.output) if b["id"] == batch_id)
    assert (listed_json["status"], listed_json["total"], listed_json["done"]) == (
        "running", 4, 0)
    shown = runner.invoke(cli, ["batch", "status", batch_id])
    assert shown.exit_code == 0, shown.output
    assert "kind: risk_recompute\nstatus: running\nprogress: 0/4 (0.0%), 0 failed" in shown.output
    cancelled = runner.invoke(cli, ["batch", "cancel", batch_id])
    assert cancelled.exit_code == 0, cancelled.output
    assert f"cancelled risk_recompute {batch_id}" in cancelled.output
    again = runner.invoke(cli, ["batch", "cancel", batch_id])
    assert again.exit_code == 1 and "already cancelled" in again.output
    watched = runner.invoke(cli, ["batch", "status", "--watch", f"risk_recompute:{batch_id}"])
    assert watched.exit_code == 0, watched.output
    # Not a terminal: one plain line per change, no progress bar's carriage returns.
    assert watched.output.startswith("cancelled 0/4 (0.0%), 0 failed\n")
    assert "\r" not in watched.output
    missing = runner.invoke(cli, ["batch", "status", str(uuid.uuid4())])
    assert missing.exit_code == 1 and "not found" in missing.output


def test_cli_reconcile_runs_every_check_on_the_worker(worker: Worker) -> None:
    from cli.main import cli  # noqa: PLC0415

    result = CliRunner().invoke(cli, ["batch", "reconcile"])
    assert result.exit_code == 0, result.output
    assert "status: completed\nprogress: 5/5 (100.0%), 0 failed" in result.output
    for check in ("asset_sums", "no_overdraft", "balances_match_transfers",
                  "escrow_transfers", "orphan_pending"):
        assert f"check {check}: done, 0 break(s)" in result.output
    inline = CliRunner().invoke(cli, ["batch", "reconcile", "--inline"])
    assert inline.exit_code == 0, inline.output
    assert "status: completed" in inline.output


def test_status_watch_draws_a_live_bar_on_a_terminal(service_env: dict[str, str]) -> None:
    """On a terminal (a pty here) `status --watch` redraws a progress bar in place and returns
    when the batch finishes, here by being cancelled."""
    batch_id = risk_batch(chunks=2)
    controller, terminal = os.openpty()
    watcher = subprocess.Popen(
        [sys.executable, "-m", "cli", "batch", "status", "--watch", batch_id],
        cwd=ROOT, env={**os.environ, **service_env, "COLUMNS": "120"}, stdin=subprocess.DEVNULL,
        stdout=terminal, stderr=terminal)
    os.close(terminal)
    output = b""

    def read_until(marker: bytes) -> bool:
        nonlocal output
        ready, _, _ = select_fd([controller], [], [], 0.2)
        if ready:
            with contextlib.suppress(OSError):  # EIO once the child closed the terminal
                output += os.read(controller, 4096)
        return marker in output

    try:
        wait_for(lambda: read_until(b"risk_recompute " + batch_id.encode()), timeout=30,
                 what="progress bar")
        with unit_of_work() as session:
            batches.cancel_batch(session, batch_id, datetime.now(UTC))
        wait_for(lambda: read_until(b"status: cancelled"), timeout=30, what="final status")
        assert watcher.wait(timeout=10) == 0
    finally:
        if watcher.poll() is None:
            watcher.kill()
        os.close(controller)
    assert b"\r" in output  # redrawn in place, not line by line
    assert b"0/4" in output
