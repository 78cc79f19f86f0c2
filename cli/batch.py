"""`fusion-prime batch ...`: every batch job (risk recompute, sanctions re-screen, ledger
reconciliation): list, status (a live progress bar on a terminal), cancel, reconcile now."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

import click

from app.domain.errors import DomainError
from app.persistence.db import unit_of_work
from app.services import batches
from app.services.batches import BatchView
from cli import output

POLL_SECONDS = 0.5


def _now() -> datetime:
    return datetime.now(UTC)


def _get(batch_id: str) -> BatchView:
    try:
        with unit_of_work() as session:
            return batches.get_batch(session, batch_id)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc


def _progress(view: BatchView) -> str:
    processed = view.done + view.failed
    share = f" ({100 * processed / view.total:.1f}%)" if view.total else ""
    return f"{processed}/{view.total}{share}, {view.failed} failed"


@click.group()
def batch() -> None:
    """Batch jobs: risk recompute, sanctions re-screen, ledger reconciliation."""


@batch.command("list")
@click.option("--kind", type=click.Choice(batches.KINDS), default=None)
@click.option("--status", type=click.Choice(batches.STATUSES), default=None)
@click.option("--limit", default=20, show_default=True)
@output.json_option
def list_(kind: str | None, status: str | None, limit: int, as_json: bool) -> None:
    """Newest first: id, kind, status, progress, created."""
    with unit_of_work() as session:
        views = batches.list_batches(session, kind=kind, status=status, limit=limit)
    if as_json:
        output.echo_json([view.as_dict() for view in views])
        return
    output.table(["id", "kind", "status", "progress", "created"],
                 [[v.id, v.kind, v.status, _progress(v), v.created_at.isoformat()]
                  for v in views], empty="no batches")


def _describe(view: BatchView) -> None:
    click.echo(f"id: {view.id}\nkind: {view.kind}\nstatus: {view.status}\n"
               f"progress: {_progress(view)}\ncreated_at: {view.created_at.isoformat()}")
    for name in ("started_at", "finished_at"):
        stamp = getattr(view, name)
        click.echo(f"{name}: {stamp.isoformat() if stamp else '-'}")
    detail = {k: v for k, v in view.detail.items() if k not in ("checks", "breaks_sample")}
    click.echo(f"detail: {json.dumps(detail, default=str)}")
    for check in view.detail.get("checks", []):
        click.echo(f"check {check['name']}: {check['status']}, {check['breaks']} break(s)"
                   + (f", error: {check['error']}" if check["error"] else ""))
    for found in view.detail.get("breaks_sample", []):
        where = " ".join(f"{k}={found[k]}" for k in ("asset", "account_id", "transfer_id",
                                                     "escrow_id") if found[k])
        click.echo(f"break {found['check']}/{found['kind']}: {where} "
                   f"expected {found['expected']!r}, actual {found['actual']!r}")


def _watch(batch_id: str, fetch: Callable[[str], BatchView]) -> BatchView:
    """Follow a batch until it finishes: a progress bar on a terminal, else a line per
    change (logs and pipes want lines, not carriage returns)."""
    view = fetch(batch_id)
    if not sys.stdout.isatty():
        last = ""
        while True:
            line = f"{view.status} {_progress(view)}"
            if line != last:
                click.echo(line)
                last = line
            if view.finished:
                return view
            time.sleep(POLL_SECONDS)
            view = fetch(batch_id)
    shown = 0
    with click.progressbar(length=max(view.total, 1), label=f"{view.kind} {view.id}",
                           show_pos=True) as bar:
        while True:
            processed = min(view.done + view.failed, view.total)
            bar.update(max(processed - shown, 0))
            shown = max(shown, processed)
            if view.finished:
                return view
            time.sleep(POLL_SECONDS)
            view = fetch(batch_id)


def follow(batch_id: str) -> BatchView:
    """Follow a batch another command queued, then describe it (its progress, on stderr
    when stdout is data)."""
    view = _watch(batch_id, _get)
    _describe(_get(view.qualified_id))
    return view


@batch.command("status")
@click.argument("batch_id")
@click.option("--watch", is_flag=True, help="Follow it until it finishes.")
@output.json_option
def status(batch_id: str, watch: bool, as_json: bool) -> None:
    """One batch: progress, timestamps, what it covers (an id may be `kind:id`)."""
    view = _watch(batch_id, _get) if watch else _get(batch_id)
    final = _get(view.qualified_id) if watch else view
    if as_json:
        output.echo_json(final.as_dict())
    else:
        _describe(final)


@batch.command("cancel")
@click.argument("batch_id")
def cancel(batch_id: str) -> None:
    """Stop a batch: chunks not started are skipped, finished ones stay done."""
    try:
        with unit_of_work() as session:
            view = batches.cancel_batch(session, batch_id, _now())
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"cancelled {view.kind} {view.id}: {_progress(view)}")


@batch.command("reconcile")
@click.option("--no-wait", is_flag=True, help="Queue the run and return its id.")
@click.option("--inline", is_flag=True,
              help="Run the checks in this process instead of on the batch queue.")
def reconcile(no_wait: bool, inline: bool) -> None:
    """Check every ledger invariant now (what beat runs nightly); exit 1 on any break."""
    from app.services import reconciliation  # noqa: PLC0415

    with unit_of_work() as session:
        plan = reconciliation.start_run(session, trigger="cli", now=_now())
    click.echo(f"reconciliation {plan.run_id}: {len(plan.checks)} check(s)")
    if inline:
        for name in plan.checks:
            with unit_of_work() as session:
                outcome = reconciliation.run_check(session, plan.run_id, name, _now())
            click.echo(f"check {name}: {outcome.get('breaks', 0)} break(s)")
    else:
        from tasks.batch import dispatch_checks  # noqa: PLC0415 - the Celery app is heavy

        dispatch_checks(plan.run_id, plan.checks)
        if no_wait:
            return
        _watch(f"{batches.RECONCILIATION}:{plan.run_id}", _get)
    view = _get(f"{batches.RECONCILIATION}:{plan.run_id}")
    _describe(view)
    if view.failed:
        raise SystemExit(1)
