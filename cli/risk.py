"""`fusion-prime risk ...`."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import click

from app.config import get_settings
from app.domain.errors import DomainError
from app.persistence.db import unit_of_work

POLL_SECONDS = 0.5


@click.group()
def risk() -> None:
    """Risk engine: prices, margin health, batch recompute."""


@risk.command("recompute")
@click.option("--all", "all_accounts", is_flag=True, help="Every account.")
@click.option("--asset", default=None, help="Only the accounts holding this asset.")
@click.option("--no-wait", is_flag=True, help="Queue the batch and return its id.")
def recompute(all_accounts: bool, asset: str | None, no_wait: bool) -> None:
    """Queue a set-based margin recompute on the `batch` queue and follow its progress."""
    from app.domain.risk.inputs import check_symbol  # noqa: PLC0415
    from app.services.risk import batch  # noqa: PLC0415
    from tasks.risk import dispatch_chunks  # noqa: PLC0415 - the Celery app is a heavy import

    if all_accounts == (asset is not None):
        raise click.UsageError("give exactly one of --all or --asset SYMBOL")
    try:
        with unit_of_work() as session:
            plan = batch.start_batch(
                session, scope="all" if all_accounts else "asset",
                asset=check_symbol(asset) if asset else None, trigger="cli",
                now=datetime.now(UTC), chunk_size=get_settings().risk_batch_chunk_size)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    assert plan is not None  # only skip_empty batches come back empty
    dispatch_chunks(plan.batch_id, plan.chunk_nos)
    click.echo(f"batch {plan.batch_id}: {plan.total_accounts} account(s) in "
               f"{len(plan.chunk_nos)} chunk(s)")
    if no_wait:
        return
    final = _follow(plan.batch_id, plan.total_accounts)
    click.echo(f"{final['status']}: {final['done']} done, {final['failed']} failed, "
               f"{final['events_emitted']} margin event(s), "
               f"{final['rate_per_second']} accounts/s in {final['elapsed_seconds']} s")
    if final["failed"]:
        raise SystemExit(1)


def _progress(batch_id: str) -> dict[str, Any]:
    from app.services.risk import batch  # noqa: PLC0415

    with unit_of_work() as session:
        return batch.progress(session, batch_id, datetime.now(UTC))


def _follow(batch_id: str, total: int) -> dict[str, Any]:
    shown = 0
    bar: click._termui_impl.ProgressBar[int]
    with click.progressbar(length=max(total, 1), label="recomputing") as bar:
        while True:
            state = _progress(batch_id)
            processed = state["done"] + state["failed"]
            bar.update(max(min(processed, total) - shown, 0))
            shown = max(shown, min(processed, total))
            if state["status"] != "running":
                bar.update(max(total, 1) - shown)
                return state
            time.sleep(POLL_SECONDS)
