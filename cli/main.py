"""`fusion-prime`: operator commands (API keys, migrations, the command sweeper)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

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


class FusionGroup(click.Group):
    """Invalid settings are a one-line-per-field message, whichever command read them."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ValidationError as exc:
            if exc.title != "Settings":
                raise
            raise click.ClickException(f"invalid configuration:\n{exc}") from exc


@click.group(cls=FusionGroup)
def cli() -> None:
    """Fusion Prime Workers: settlement, risk and compliance back office."""


def _register_area_commands() -> None:
    from cli import batch, compliance, fleet, risk  # noqa: PLC0415 - each area owns its commands

    cli.add_command(batch.batch)
    cli.add_command(risk.risk)
    cli.add_command(compliance.sanctions)
    cli.add_command(compliance.compliance)
    cli.add_command(fleet.fleet_group)


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
    from alembic import command  # noqa: PLC0415 - only this command needs alembic
    from alembic.config import Config  # noqa: PLC0415

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
    from tasks.senders import send_command_task  # noqa: PLC0415

    with unit_of_work() as session:
        stuck = sweep_stuck_commands(session, datetime.now(UTC), timedelta(seconds=older_than))
    for command_id, task_name in stuck:
        send_command_task(task_name, command_id)
    click.echo(f"re-sent {len(stuck)} command(s)")


@cli.command()
def bridge() -> None:
    """Relay the Pub/Sub subscriptions into Celery until SIGTERM/SIGINT."""
    from bridges.runner import run_inbound  # noqa: PLC0415 - google-cloud is a heavy import

    sys.exit(run_inbound(_settings()))


@cli.command("outbox-relay")
def outbox_relay() -> None:
    """Publish the transactional outbox to Pub/Sub until SIGTERM/SIGINT."""
    from bridges.runner import run_outbox  # noqa: PLC0415

    sys.exit(run_outbox(_settings()))


@cli.group()
def pubsub() -> None:
    """Pub/Sub topology."""


@pubsub.command("init")
def pubsub_init() -> None:
    """Create every topic and subscription (idempotent), on the emulator or a real project."""
    from bridges.provision import init_pubsub  # noqa: PLC0415

    for line in init_pubsub(_settings()):
        click.echo(line)


@cli.group()
def deadletters() -> None:
    """Messages the bridge could not accept."""


@deadletters.command("list")
@click.option("--limit", default=50, show_default=True)
@click.option("--reason", default=None, help="Only this reason code.")
@click.option("--pending", is_flag=True, help="Only those not replayed yet.")
def deadletters_list(limit: int, reason: str | None, pending: bool) -> None:
    from app.services import dead_letters  # noqa: PLC0415

    with unit_of_work() as session:
        for letter in dead_letters.recent(session, limit=limit, reason=reason,
                                          pending_only=pending):
            replayed = letter.replayed_at.isoformat() if letter.replayed_at else "-"
            click.echo(f"{letter.id}\t{letter.received_at.isoformat()}\t{letter.subscription}"
                       f"\t{letter.reason}\treplayed={replayed}\t{letter.detail[:80]}")


@deadletters.command("show")
@click.argument("letter_id")
def deadletters_show(letter_id: str) -> None:
    from app.services import dead_letters  # noqa: PLC0415

    try:
        with unit_of_work() as session:
            view = dead_letters.describe(dead_letters.get(session, letter_id), with_data=True)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(json.dumps(view, indent=2))


@deadletters.command("replay")
@click.argument("letter_id")
@click.option("--data-file", type=click.File("rb"), default=None,
              help="A corrected message body to replay instead of the stored one.")
def deadletters_replay(letter_id: str, data_file: BinaryIO | None) -> None:
    from app.messaging.inbound import Undecodable  # noqa: PLC0415
    from app.services import dead_letters  # noqa: PLC0415
    from tasks.senders import send_replay  # noqa: PLC0415

    try:
        with unit_of_work() as session:
            routed = dead_letters.replay(session, letter_id,
                                         data=data_file.read() if data_file else None)
    except Undecodable as exc:
        raise click.ClickException(f"still not acceptable: {exc.reason}: {exc.detail}") from exc
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"replayed as task {send_replay(routed)} ({routed.task_name})")


_register_area_commands()
