"""`fusion-prime`: operator commands (API keys, migrations, the command sweeper)."""

from __future__ import annotations

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
from cli import output, stack

ROOT = Path(__file__).resolve().parent.parent


def _settings() -> Settings:
    try:
        return get_settings()
    except ValidationError as exc:
        raise click.ClickException(f"invalid configuration:\n{exc}") from exc


class FusionGroup(click.Group):
    """Invalid settings are a one-line-per-field message, and a server that cannot be
    reached one line naming it and where its address came from, whichever command ran."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # Help needs no stack; the group's callback runs before a subcommand parses --help.
        ctx.meta["fusion.help_only"] = any(arg in ctx.help_option_names for arg in args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        from kombu.exceptions import OperationalError as BrokerError  # noqa: PLC0415
        from psycopg import OperationalError as DriverError  # noqa: PLC0415
        from redis.exceptions import ConnectionError as RedisUnreachable  # noqa: PLC0415
        from redis.exceptions import TimeoutError as RedisTimeout  # noqa: PLC0415
        from sqlalchemy.exc import OperationalError as DatabaseError  # noqa: PLC0415

        try:
            return super().invoke(ctx)
        except ValidationError as exc:
            if exc.title != "Settings":
                raise
            raise click.ClickException(f"invalid configuration:\n{exc}") from exc
        except (DatabaseError, DriverError) as exc:
            raise click.ClickException(stack.unreachable(
                "PostgreSQL", "DATABASE_URL", _source(ctx), exc)) from exc
        except (BrokerError, RedisUnreachable, RedisTimeout) as exc:
            raise click.ClickException(stack.unreachable(
                "Redis", "CELERY_BROKER_URL", _source(ctx), exc)) from exc


def _source(ctx: click.Context) -> stack.Source:
    found = ctx.find_object(stack.Source)
    return found if found is not None else stack.Source("from the environment")


@click.group(cls=FusionGroup)
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Fusion Prime Workers: settlement, risk and compliance back office."""
    source = stack.locate()
    if not ctx.meta.get("fusion.help_only"):
        stack.require(source)
    if source.looked_in:  # the variables came from env.sh: settings read before are stale
        get_settings.cache_clear()
    ctx.obj = source


def _register_area_commands() -> None:
    from cli import (  # noqa: PLC0415 - each area owns its commands
        batch,
        command_status,
        compliance,
        demo,
        fleet,
        risk,
    )

    cli.add_command(batch.batch)
    cli.add_command(risk.risk)
    cli.add_command(compliance.sanctions)
    cli.add_command(compliance.compliance)
    cli.add_command(fleet.fleet_group)
    cli.add_command(demo.demo)
    commands.add_command(command_status.show)
    commands.add_command(command_status.wait)


@cli.group()
def apikey() -> None:
    """Manage API keys (stored hashed; a key is printed once, at creation)."""


@apikey.command("create")
@click.option("--name", required=True, help="Who or what uses the key.")
@click.option("--scope", "scopes", multiple=True, required=True,
              type=click.Choice(sorted(apikeys.SCOPES)), help="Repeat for several scopes.")
def apikey_create(name: str, scopes: tuple[str, ...]) -> None:
    """Create a key with the given scopes and print it (once)."""
    pepper = _settings().api_key_pepper.get_secret_value()
    try:
        with unit_of_work() as session:
            key = apikeys.create_api_key(session, name=name, scopes=list(scopes), pepper=pepper)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(key)
    click.echo("Store this key now: it is not shown again.", err=True)


@apikey.command("list")
@output.json_option
def apikey_list(as_json: bool) -> None:
    """Every key: id, name, scopes, active or revoked (never the secret)."""
    with unit_of_work() as session:
        keys = [{"key_id": k.key_id, "name": k.name, "scopes": list(k.scopes),
                 "state": "revoked" if k.revoked_at else "active"}
                for k in apikeys.list_api_keys(session)]
    if as_json:
        output.echo_json(keys)
        return
    output.table(["key id", "name", "scopes", "state"],
                 [list(k.values()) for k in keys], empty="no API keys", widest=120)


@apikey.command("revoke")
@click.argument("key_id")
def apikey_revoke(key_id: str) -> None:
    """Revoke a key by its id (the part after `fp_`, before the next `_`)."""
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
    """Migrate the database to a revision (default: the newest)."""
    from alembic import command  # noqa: PLC0415 - only this command needs alembic
    from alembic.config import Config  # noqa: PLC0415

    _settings()
    command.upgrade(Config(str(ROOT / "alembic.ini")), revision)
    click.echo(f"database at {revision}")


@cli.group()
def commands() -> None:
    """Settlement commands: show, wait, sweep."""


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
    from google.api_core.exceptions import GoogleAPIError  # noqa: PLC0415
    from google.auth.exceptions import DefaultCredentialsError  # noqa: PLC0415

    from bridges.provision import init_pubsub  # noqa: PLC0415

    settings = _settings()
    stack.check_pubsub(settings.pubsub_emulator_host, settings.pubsub_project_id)
    try:
        lines = init_pubsub(settings)
    except (GoogleAPIError, DefaultCredentialsError) as exc:
        raise click.ClickException(f"Pub/Sub project {settings.pubsub_project_id}: "
                                   f"{str(exc).splitlines()[0]}") from exc
    for line in lines:
        click.echo(line)


@cli.group()
def deadletters() -> None:
    """Messages the bridge could not accept."""


@deadletters.command("list")
@click.option("--limit", default=50, show_default=True)
@click.option("--reason", default=None, help="Only this reason code.")
@click.option("--pending", is_flag=True, help="Only those not replayed yet.")
@output.json_option
def deadletters_list(limit: int, reason: str | None, pending: bool, as_json: bool) -> None:
    """Newest first: id, received, subscription, reason, replayed, detail."""
    from app.services import dead_letters  # noqa: PLC0415

    with unit_of_work() as session:
        letters = [{"id": letter.id, "received_at": letter.received_at.isoformat(),
                    "subscription": letter.subscription, "reason": letter.reason,
                    "replayed_at": letter.replayed_at.isoformat() if letter.replayed_at
                    else None, "detail": letter.detail}
                   for letter in dead_letters.recent(session, limit=limit, reason=reason,
                                                     pending_only=pending)]
    if as_json:
        output.echo_json(letters)
        return
    output.table(["id", "received", "subscription", "reason", "replayed", "detail"],
                 [[d["id"], d["received_at"], d["subscription"], d["reason"],
                   d["replayed_at"], d["detail"]] for d in letters], empty="no dead letters")


@deadletters.command("show")
@click.argument("letter_id")
@output.json_option
def deadletters_show(letter_id: str, as_json: bool) -> None:
    """One letter whole: raw message, attributes, reason, detail."""
    from app.services import dead_letters  # noqa: PLC0415

    try:
        with unit_of_work() as session:
            view = dead_letters.describe(dead_letters.get(session, letter_id), with_data=True)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    if as_json:
        output.echo_json(view)
    else:
        output.fields(view)


@deadletters.command("replay")
@click.argument("letter_id")
@click.option("--data-file", type=click.File("rb"), default=None,
              help="A corrected message body to replay instead of the stored one.")
def deadletters_replay(letter_id: str, data_file: BinaryIO | None) -> None:
    """Route a letter again, as stored or as corrected by --data-file."""
    from app.messaging.inbound import Undecodable  # noqa: PLC0415
    from app.services import dead_letters  # noqa: PLC0415
    from tasks.senders import send_replay  # noqa: PLC0415

    try:
        with unit_of_work() as session:
            routed = dead_letters.replay(session, letter_id,
                                         data=data_file.read() if data_file else None,
                                         resend_after=get_settings().inbox_resend_after)
    except Undecodable as exc:
        raise click.ClickException(f"still not acceptable: {exc.reason}: {exc.detail}") from exc
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"replayed as task {send_replay(routed)} ({routed.task_name})")


_register_area_commands()
