"""`fusion-prime sanctions ...` and `fusion-prime compliance ...`."""

from __future__ import annotations

import time
from pathlib import Path

import click

from app.config import get_settings
from app.domain.errors import DomainError
from app.persistence.db import unit_of_work
from cli import output


@click.group()
def sanctions() -> None:
    """Sanctions lists: load and screen."""


@click.group()
def compliance() -> None:
    """Compliance: KYC, AML, screening."""


def _echo(value: dict[str, object], as_json: bool) -> None:
    if as_json:
        output.echo_json(value)
    else:
        output.fields(value)


def _step(what: str) -> float:
    """Long work says what it is doing before it starts (on stderr: stdout stays data)."""
    click.echo(f"{what}...", err=True)
    return time.monotonic()


@sanctions.command("load")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--label", default=None, help="A name for this version (default: dir@sha).")
@click.option("--no-rescreen", is_flag=True, help="Do not queue the batch re-screen.")
@click.option("--list", "which", type=click.Choice(["sdn", "consolidated"]), default="sdn",
              show_default=True, help="Which OFAC list the directory holds.")
@click.option("--no-wait", is_flag=True, help="Queue the re-screen and return.")
@output.json_option
def sanctions_load(*, directory: Path, label: str | None, no_rescreen: bool, which: str,
                   no_wait: bool, as_json: bool) -> None:
    """Load an OFAC list directory (sdn.csv, alt.csv, add.csv, or the Consolidated list's
    cons_prim.csv, cons_alt.csv, cons_add.csv) as that list's new version."""
    from app.services.compliance.lists import SOURCES  # noqa: PLC0415
    from app.services.compliance.sanctions_loader import load_directory  # noqa: PLC0415
    from cli.batch import follow  # noqa: PLC0415
    from tasks.compliance import send_rescreen  # noqa: PLC0415

    started = _step(f"loading {directory}")
    try:
        with unit_of_work() as session:
            outcome = load_directory(session, directory, label=label,
                                     rescreen_after=not no_rescreen, source=SOURCES[which])
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"loaded {outcome.entries} entries in {time.monotonic() - started:.1f}s",
               err=True)
    # Queued only after the version is committed, so the batch never sees a missing list.
    if outcome.rescreen_run_id is not None:
        send_rescreen(outcome.rescreen_run_id)
    _echo(outcome.as_dict(), as_json)
    if not outcome.created:
        click.echo("identical to the active version: nothing loaded", err=True)
    elif outcome.rescreen_run_id is not None and not no_wait:
        follow(f"sanctions_rescreen:{outcome.rescreen_run_id}")


@sanctions.command("status")
@output.json_option
def sanctions_status(as_json: bool) -> None:
    """The active list version and the latest re-screen runs with their progress."""
    from app.services.compliance import lists, rescreen  # noqa: PLC0415

    with unit_of_work() as session:
        active = lists.active_version(session)
        if active is None:
            raise click.ClickException("no sanctions list is loaded")
        _echo({**lists.version_summary(session, active.version_id),
               "rescreens": [rescreen.run_view(r) for r in rescreen.latest_runs(session)]},
              as_json)


@sanctions.command("rescreen")
@click.argument("run_id", required=False)
@click.option("--no-wait", is_flag=True, help="Queue the run and return its id.")
def sanctions_rescreen(run_id: str | None, no_wait: bool) -> None:
    """Send a re-screen run's unfinished chunks again (default: a new run on the active list)."""
    from app.services.compliance import lists, rescreen  # noqa: PLC0415
    from cli.batch import follow  # noqa: PLC0415
    from tasks.compliance import send_rescreen  # noqa: PLC0415

    with unit_of_work() as session:
        if run_id is None:
            active = lists.active_version(session)
            if active is None:
                raise click.ClickException("no sanctions list is loaded")
            run_id = rescreen.start_run(session, active.version_id)
    send_rescreen(run_id)
    click.echo(f"re-screen run {run_id} queued")
    if not no_wait:
        follow(f"sanctions_rescreen:{run_id}")


@sanctions.command("screen")
@click.argument("names", nargs=-1)
@click.option("--address", "addresses", multiple=True, help="A crypto address; repeatable.")
@output.json_option
def sanctions_screen(names: tuple[str, ...], addresses: tuple[str, ...], as_json: bool) -> None:
    """Screen names and addresses against every active list now; nothing is stored."""
    from app.services.compliance.lists import active_versions  # noqa: PLC0415
    from app.services.compliance.screening_lists import list_indexes, screen  # noqa: PLC0415

    with unit_of_work() as session:
        if not active_versions(session):
            raise click.ClickException("no sanctions list is loaded")
        started = _step("building the screening indexes of the active lists")
        indexes = list_indexes(session)
        click.echo(f"indexes ready in {time.monotonic() - started:.1f}s", err=True)
        hits = screen(indexes, get_settings(), list(names), [a.lower() for a in addresses])
    if as_json:
        output.echo_json(hits)
        return
    output.table(["decision", "score", "list", "entry uid", "matched", "kind", "query"],
                 [[h["decision"], f"{h['score']:.3f}", h["list"], h["entry_uid"],
                   h["matched_name"], h["kind"], h["query"]] for h in hits], empty="no hits")


@compliance.command("gate")
@click.argument("party")
@output.json_option
def compliance_gate(party: str, as_json: bool) -> None:
    """The settlement gate's decision for a party, with its reasons."""
    from app.services.compliance.gate import party_gate  # noqa: PLC0415

    with unit_of_work() as session:
        _echo(party_gate(session, party, get_settings()).as_dict(), as_json)


@compliance.command("review")
@click.argument("screening_id")
@click.argument("entry_uid", required=False, type=int)
@click.option("--dismiss", "action", flag_value="dismiss", help="Not this listed entry.")
@click.option("--confirm", "action", flag_value="confirm", help="This listed entry: block.")
@click.option("--note", required=True, help="Why (kept with the review).")
@click.option("--reviewer", required=True, help="Who decided.")
@click.option("--list", "list_source", default=None, help="The hit's list, e.g. OFAC-SDN.")
@click.option("--query", default=None, help="An unscreenable name's hit, e.g. name[0].")
@output.json_option
def compliance_review(*, screening_id: str, entry_uid: int | None, action: str | None, note: str,
                      reviewer: str, list_source: str | None, query: str | None,
                      as_json: bool) -> None:
    """Dismiss or confirm a possible hit of a party's latest screening."""
    from datetime import UTC, datetime  # noqa: PLC0415

    from app.services.compliance.reviews import review_hit  # noqa: PLC0415

    if action is None:
        raise click.UsageError("say --dismiss or --confirm")
    try:
        with unit_of_work() as session:
            done = review_hit(session, screening_id, action=action, note=note,
                              reviewer=reviewer, now=datetime.now(UTC), entry_uid=entry_uid,
                              list_source=list_source, query=query)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    result = done.pop("screening")
    _echo(done | {"party_decision": result["decision"]}, as_json)


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
    output.echo_json({"key_id": cipher.key_id, "resealed": totals})
