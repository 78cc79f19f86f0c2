"""`fusion-prime demo seed`: approved parties, prices and funded accounts for a first
settlement (app/services/demo_seed.py), then a wait for the deposits to settle."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import click

from app.config import get_settings
from app.domain.commands import CommandStatus
from app.domain.errors import DomainError
from app.persistence.db import unit_of_work
from app.services.commands import get_command
from cli import output

POLL_SECONDS = 0.2


@click.group()
def demo() -> None:
    """Demo data for trying the stack out (never on a production database)."""


def _statuses(command_ids: list[str]) -> dict[str, tuple[str, str | None]]:
    with unit_of_work() as session:
        return {c: (cmd.status, cmd.reason) for c in command_ids
                for cmd in [get_command(session, c)]}


@demo.command("seed")
@click.option("--timeout", default=60.0, show_default=True, type=click.FloatRange(1, 3600),
              help="Seconds to wait for a worker to settle the deposits.")
@output.json_option
def seed(timeout: float, as_json: bool) -> None:
    """Make alice and bob (KYC approved), prices and funded accounts; safe to run again."""
    from app.services import demo_seed  # noqa: PLC0415
    from app.services.compliance.pii import pii_cipher  # noqa: PLC0415
    from tasks.celery_app import send_command_task  # noqa: PLC0415 - the Celery app is heavy
    from tasks.compliance import send_screening  # noqa: PLC0415
    from tasks.risk import send_asset_recompute  # noqa: PLC0415

    settings = get_settings()
    if settings.fusion_env == "production":
        raise click.ClickException("demo seed refuses to run with FUSION_ENV=production")
    try:
        with unit_of_work() as session:
            seeded = demo_seed.seed(session, settings, pii_cipher(settings), datetime.now(UTC))
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    for screening_id in seeded.screenings:
        send_screening(screening_id)
    for asset, seq in seeded.recomputes:
        send_asset_recompute(asset, seq)
    ids = [command_id for command_id, _ in seeded.deposits]
    states = _statuses(ids)
    for command_id, task_name in seeded.deposits:
        if not CommandStatus(states[command_id][0]).terminal:
            send_command_task(task_name, command_id)  # its id is the task id: no double run
    states = _follow(ids, timeout)
    for line in seeded.lines:
        if line["what"] == "deposit":
            status, reason = states[line["command_id"]]
            line["outcome"] = status + (f" ({reason})" if reason else "")
    if as_json:
        output.echo_json(seeded.lines)
    else:
        output.table(["made", "for", "detail", "outcome"],
                     [[line["what"], line.get("party") or line.get("account") or line["asset"],
                       _detail(line), line["outcome"]] for line in seeded.lines],
                     empty="nothing to seed")
    unsettled = [c for c, (status, _) in states.items() if status != "settled"]
    if unsettled:
        raise click.ClickException(
            f"{len(unsettled)} deposit(s) not settled after {timeout:g}s ({', '.join(unsettled)}"
            "); is the settlement worker running? (fusion-prime fleet status)")


def _detail(line: dict[str, str]) -> str:
    if line["what"] == "kyc":
        return f"case {line['case_id']}"
    if line["what"] == "price":
        return f"{line['price_usd']} USD"
    return f"{line['amount']} {line['asset']}, command {line['command_id']}"


def _follow(command_ids: list[str], timeout: float) -> dict[str, tuple[str, str | None]]:
    """Wait for the deposits with a progress line on stderr (stdout is the report)."""
    deadline, shown = time.monotonic() + timeout, -1
    while True:
        states = _statuses(command_ids)
        done = sum(CommandStatus(s).terminal for s, _ in states.values())
        if done != shown:
            click.echo(f"deposits settled: {done}/{len(command_ids)}", err=True)
            shown = done
        if done == len(command_ids) or time.monotonic() > deadline:
            return states
        time.sleep(POLL_SECONDS)
