"""`fusion-prime commands show|wait ID`: a settlement command as the API's GET shows it,
including when the sweeper retries a held one."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import click

from app.config import get_settings
from app.domain.commands import CommandStatus
from app.domain.errors import DomainError
from app.persistence.db import unit_of_work
from app.services.commands import get_command, next_retry_at
from cli import output

POLL_SECONDS = 0.2
_STAMPS = ("received_at", "validated_at", "settling_at", "settled_at", "failed_at")


def _load(command_id: str) -> dict[str, Any]:
    sweep_after = timedelta(seconds=get_settings().command_sweep_after_seconds)
    try:
        with unit_of_work() as session:
            command = get_command(session, command_id)
            retry = next_retry_at(command, sweep_after)
            stamps = {name: getattr(command, name) for name in _STAMPS}
            return {"command_id": command.command_id, "type": command.type,
                    "status": command.status, "reason": command.reason,
                    "reason_detail": command.reason_detail, "escrow_id": command.escrow_id,
                    "workflow_id": command.workflow_id,
                    **{k: v.isoformat() if v else None for k, v in stamps.items()},
                    "next_retry_at": retry.isoformat() if retry else None}
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc


def _show(view: dict[str, Any], as_json: bool) -> None:
    if as_json:
        output.echo_json(view)
    else:
        output.fields(view)


@click.command("show")
@click.argument("command_id")
@output.json_option
def show(command_id: str, as_json: bool) -> None:
    """A command's status, reason, timestamps and, if held, when it is retried."""
    _show(_load(command_id), as_json)


@click.command("wait")
@click.argument("command_id")
@click.option("--timeout", default=30.0, show_default=True, type=click.FloatRange(0, 3600),
              help="Seconds to wait for settled or failed.")
@output.json_option
def wait(command_id: str, timeout: float, as_json: bool) -> None:
    """Wait until a command is settled (exit 0) or failed (exit 1), then show it."""
    deadline = time.monotonic() + timeout
    view, said = _load(command_id), ""
    while not CommandStatus(view["status"]).terminal and time.monotonic() < deadline:
        line = f"{view['status']}" + (f" (held: {view['reason']}, retried at "
                                      f"{view['next_retry_at']})" if view["reason"] else "")
        if line != said:
            click.echo(f"command {command_id}: {line}", err=True)
            said = line
        time.sleep(POLL_SECONDS)
        view = _load(command_id)
    _show(view, as_json)
    if view["status"] != CommandStatus.SETTLED.value:
        why = "failed" if view["status"] == "failed" else f"still {view['status']} after " \
              f"{timeout:g}s"
        raise click.ClickException(f"command {command_id} {why}"
                                   + (f": {view['reason']}" if view["reason"] else ""))
