"""`fusion-prime`: operator commands (API keys, migrations, the command sweeper)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from pydantic import ValidationError

from app.config import Settings, get_settings
from app.domain.errors import DomainError
from app.persistence.db import unit_of_work
from app.services import apikeys

ROOT = Path(__file__).resolve().parent.parent


def _settings() -> Settings:
    try:
        return get_settings()
    except ValidationError as exc:
        raise click.ClickException(f"invalid configuration:\n{exc}") from exc


@click.group()
def cli() -> None:
    """Fusion Prime Workers: settlement, risk and compliance back office."""


@cli.group()
def apikey() -> None:
    """Manage API keys (stored hashed; a key is printed once, at creation)."""


@apikey.command("create")
@click.option("--name", required=True, help="Who or what uses the key.")
@click.option("--scope", "scopes", multiple=True, required=True,
              type=click.Choice(sorted(apikeys.SCOPES)), help="Repeat for several scopes.")
def apikey_create(name: str, scopes: tuple[str, ...]) -> None:
    pepper = _settings().api_key_pepper.get_secret_value()
    try:
        with unit_of_work() as session:
            key = apikeys.create_api_key(session, name=name, scopes=list(scopes), pepper=pepper)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(key)
    click.echo("Store this key now: it is not shown again.", err=True)


@apikey.command("list")
def apikey_list() -> None:
    with unit_of_work() as session:
        for key in apikeys.list_api_keys(session):
            state = "revoked" if key.revoked_at else "active"
            click.echo(f"{key.key_id}\t{key.name}\t{','.join(key.scopes)}\t{state}")


@apikey.command("revoke")
@click.argument("key_id")
def apikey_revoke(key_id: str) -> None:
    with unit_of_work() as session:
        if not apikeys.revoke_api_key(session, key_id):
            raise click.ClickException(f"no active key {key_id}")
    click.echo(f"revoked {key_id}")


@cli.group()
def db() -> None:
    """Database schema (Alembic)."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    from alembic.config import Config  # noqa: PLC0415

    from alembic import command  # noqa: PLC0415 - only this command needs alembic

    _settings()
    command.upgrade(Config(str(ROOT / "alembic.ini")), revision)
    click.echo(f"database at {revision}")


@cli.group()
def commands() -> None:
    """Settlement commands."""


@commands.command("sweep")
@click.option("--older-than", default=60, show_default=True, help="Seconds in `received`.")
def commands_sweep(older_than: int) -> None:
    """Re-send commands stuck in `received` (what celery beat runs periodically)."""
    from app.services.commands import sweep_stuck_commands  # noqa: PLC0415
    from tasks.celery_app import send_command_task  # noqa: PLC0415

    with unit_of_work() as session:
        stuck = sweep_stuck_commands(session, datetime.now(UTC), timedelta(seconds=older_than))
    for command_id, task_name in stuck:
        send_command_task(task_name, command_id)
    click.echo(f"re-sent {len(stuck)} command(s)")


@cli.command()
def bridge() -> None:
    """Run the Pub/Sub bridge (not built yet)."""
    click.echo("the Pub/Sub bridge is not built yet", err=True)
    sys.exit(2)
