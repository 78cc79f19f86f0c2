"""Overview, commands and ledger pages."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import current_app, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from app.config import Settings
from app.domain import ledger as rules
from app.persistence.db import unit_of_work
from app.services import batches, ledger
from app.services.apikeys import Principal
from app.services.queries import commands, overview
from app.services.queries import ledger as ledger_views
from web.console import bp, charts
from web.console.auth import requires
from web.console.broker import ops_charts, queue_depths
from web.console.forms import arg_text, arg_time

READ = "settlement:read"


@bp.route("/")
def index() -> Response:
    return redirect(url_for("console.overview"))


@bp.route("/overview", endpoint="overview")
def overview_page() -> str:
    """Every section the key's scopes allow; the page itself needs no scope beyond sign-in."""
    principal: Principal = g.console_principal
    settings: Settings = current_app.config["SETTINGS"]
    window = request.args.get("window", "hour")
    window = window if window in overview.WINDOWS else "hour"
    shown: dict[str, object] = {"window": window}
    with unit_of_work() as session:
        if principal.allows(READ):
            buckets = overview.status_buckets(session, datetime.now(UTC), window)
            shown["chart"] = charts.stacked_bars(
                f"Commands per status, last {window}", [b.start for b in buckets],
                overview.CHART_STATUSES, [b.counts for b in buckets],
                y_unit="commands", x_unit=f"received at (UTC, {_bar(window)} bars)",
                label_format="%H:%M")
            shown["total"] = sum(b.total for b in buckets)
            shown["rate"] = overview.settlement_rate(buckets)
            shown["held"] = commands.held(session, limit=10)
        if principal.allows("admin"):
            shown["outbox"] = overview.outbox_now(session, datetime.now(UTC))
            shown["dead_letters"] = overview.open_dead_letters(session)
            shown["running"] = batches.list_batches(session, status=batches.RUNNING, limit=10)
        if principal.allows("compliance:read"):
            shown["alerts"] = overview.open_alerts(session)
    if principal.allows("admin"):
        now = datetime.now(UTC)
        shown.update(ops_charts(settings.celery_broker_url, now - overview.WINDOWS[window][0],
                                now))
        depths = queue_depths(settings.celery_broker_url)
        shown["depths"] = depths
        if depths is not None:
            shown["queue_chart"] = charts.bars("Messages waiting per queue", depths,
                                               y_unit="messages", x_unit="queue (now)")
    return render_template("console/overview.html", **shown)



def _bar(window: str) -> str:
    return "5-minute" if window == "hour" else "1-hour"


@bp.route("/commands", endpoint="commands")
@requires(READ)
def commands_page() -> str | Response:
    wanted = arg_text("command_id")
    if wanted:
        return redirect(url_for("console.command", command_id=wanted))
    status, party = arg_text("status"), arg_text("party")
    with unit_of_work() as session:
        page = commands.search(session, status=status, party=party, since=arg_time("from"),
                               until=arg_time("to"), cursor=arg_text("cursor"))
    filters = {"status": status, "party": party}
    return render_template("console/commands.html", page=page, filters=filters,
                           statuses=commands.SEARCH_STATUSES, args=request.args)


@bp.route("/commands/<path:command_id>")
@requires(READ)
def command(command_id: str) -> str:
    with unit_of_work() as session:
        story = commands.story(session, command_id)
    return render_template("console/command.html", story=story)


@bp.route("/ledger", endpoint="ledger")
@requires(READ)
def ledger_page() -> str | Response:
    wanted = arg_text("account_id")
    if wanted:
        return redirect(url_for("console.account", account_id=wanted))
    with unit_of_work() as session:
        totals = ledger_views.asset_totals(session)
    return render_template("console/ledger.html", totals=totals)


@bp.route("/ledger/<path:account_id>")
@requires(READ)
def account(account_id: str) -> str:
    with unit_of_work() as session:
        balances = [(b, rules.posted(b), rules.available(b))
                    for b in ledger.account_balances(session, account_id)]
        page = ledger_views.account_transfers(session, account_id, cursor=arg_text("cursor"))
    return render_template("console/account.html", account_id=account_id, balances=balances,
                           page=page)
