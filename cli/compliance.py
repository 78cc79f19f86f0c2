"""`fusion-prime sanctions ...` and `fusion-prime compliance ...`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from app.config import get_settings
from app.domain.errors import DomainError
from app.persistence.db import unit_of_work


@click.group()
def sanctions() -> None:
    """Sanctions lists: load and screen."""


@click.group()
def compliance() -> None:
    """Compliance: KYC, AML, screening."""


def _echo(value: object) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


@sanctions.command("load")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--label", default=None, help="A name for this version (default: dir@sha).")
@click.option("--no-rescreen", is_flag=True, help="Do not queue the batch re-screen.")
@click.option("--list", "which", type=click.Choice(["sdn", "consolidated"]), default="sdn",
              show_default=True, help="Which OFAC list the directory holds.")
def sanctions_load(directory: Path, label: str | None, no_rescreen: bool, which: str) -> None:
    """Load an OFAC list directory (sdn.csv, alt.csv, add.csv, or the Consolidated list's
    cons_prim.csv, cons_alt.csv, cons_add.csv) as that list's new version."""
    from app.services.compliance.lists import SOURCES  # noqa: PLC0415
    from app.services.compliance.sanctions_loader import load_directory  # noqa: PLC0415
    from tasks.compliance import send_rescreen  # noqa: PLC0415

    try:
        with unit_of_work() as session:
            outcome = load_directory(session, directory, label=label,
                                     rescreen_after=not no_rescreen, source=SOURCES[which])
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    # Queued only after the version is committed, so the batch never sees a missing list.
    if outcome.rescreen_run_id is not None:
        send_rescreen(outcome.rescreen_run_id)
    _echo(outcome.as_dict())
    if not outcome.created:
        click.echo("identical to the active version: nothing loaded", err=True)


@sanctions.command("status")
def sanctions_status() -> None:
    """The active list version and the latest re-screen runs with their progress."""
    from app.services.compliance import lists, rescreen  # noqa: PLC0415

    with unit_of_work() as session:
        active = lists.active_version(session)
        if active is None:
            raise click.ClickException("no sanctions list is loaded")
        _echo({**lists.version_summary(session, active.version_id),
               "rescreens": [rescreen.run_view(r) for r in rescreen.latest_runs(session)]})


@sanctions.command("rescreen")
@click.argument("run_id", required=False)
def sanctions_rescreen(run_id: str | None) -> None:
    """Send a re-screen run's unfinished chunks again (default: a new run on the active list)."""
    from app.services.compliance import lists, rescreen  # noqa: PLC0415
    from tasks.compliance import send_rescreen  # noqa: PLC0415

    with unit_of_work() as session:
        if run_id is None:
            active = lists.active_version(session)
            if active is None:
                raise click.ClickException("no sanctions list is loaded")
            run_id = rescreen.start_run(session, active.version_id)
    send_rescreen(run_id)
    click.echo(f"re-screen run {run_id} queued")


@sanctions.command("screen")
@click.argument("names", nargs=-1)
@click.option("--address", "addresses", multiple=True, help="A crypto address; repeatable.")
def sanctions_screen(names: tuple[str, ...], addresses: tuple[str, ...]) -> None:
    """Screen names and addresses against every active list now; nothing is stored."""
    from app.services.compliance.screening_lists import list_indexes, screen  # noqa: PLC0415

    with unit_of_work() as session:
        indexes = list_indexes(session)
        if not indexes:
            raise click.ClickException("no sanctions list is loaded")
        _echo(screen(indexes, get_settings(), list(names), [a.lower() for a in addresses]))


@compliance.command("gate")
@click.argument("party")
def compliance_gate(party: str) -> None:
    """The settlement gate's decision for a party, with its reasons."""
    from app.services.compliance.gate import party_gate  # noqa: PLC0415

    with unit_of_work() as session:
        _echo(party_gate(session, party, get_settings()).as_dict())


@compliance.command("review")
@click.argument("screening_id")
@click.argument("entry_uid", required=False, type=int)
@click.option("--dismiss", "action", flag_value="dismiss", help="Not this listed entry.")
@click.option("--confirm", "action", flag_value="confirm", help="This listed entry: block.")
@click.option("--note", required=True, help="Why (kept with the review).")
@click.option("--reviewer", required=True, help="Who decided.")
@click.option("--list", "list_source", default=None, help="The hit's list, e.g. OFAC-SDN.")
@click.option("--query", default=None, help="An unscreenable name's hit, e.g. name[0].")
def compliance_review(*, screening_id: str, entry_uid: int | None, action: str | None, note: str,
                      reviewer: str, list_source: str | None, query: str | None) -> None:
    """Dismiss or confirm a possible hit of a party's latest screening."""
    from datetime import UTC, datetime  # noqa: PLC0415

    from app.services.compliance.reviews import review_hit  # noqa: PLC0415

    if action is None:
        raise click.UsageError("say --dismiss or --confirm")
    try:
        with unit_of_work() as session:
            _echo(review_hit(session, screening_id, action=action, note=note,
                             reviewer=reviewer, now=datetime.now(UTC), entry_uid=entry_uid,
                             list_source=list_source, query=query))
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc


@compliance.command("resend")
@click.option("--older-than", default=60, show_default=True, help="Seconds pending.")
def compliance_resend(older_than: int) -> None:
    """Re-send AML checks and screenings accepted but still pending (a send lost after
    commit); what the `compliance.resend_pending` task does on a schedule."""
    from tasks.compliance import resend_pending  # noqa: PLC0415

    sent = resend_pending(older_than_seconds=older_than)
    click.echo(f"re-sent {sent['checks']} check(s) and {sent['screenings']} screening(s)")


@compliance.command("reseal")
@click.option("--batch", default=500, show_default=True, type=click.IntRange(1, 10_000),
              help="Rows of each kind per transaction.")
def compliance_reseal(batch: int) -> None:
    """Move every sealed value to the current PII_ENCRYPTION_KEY (after a key rotation)."""
    from app.services.compliance.pii import SealedDataError, pii_cipher  # noqa: PLC0415
    from app.services.compliance.reseal import reseal_batch  # noqa: PLC0415

    cipher = pii_cipher(get_settings())
    totals: dict[str, int] = {}
    while True:
        try:
            with unit_of_work() as session:
                moved = reseal_batch(session, cipher, batch)
        except SealedDataError as exc:
            raise click.ClickException(f"{exc}; add that key to PII_PREVIOUS_KEYS") from exc
        for kind, n in moved.items():
            totals[kind] = totals.get(kind, 0) + n
        if not any(moved.values()):
            break
    _echo({"key_id": cipher.key_id, "resealed": totals})
