"""Risk (health bands, nearest to liquidation, one account's margin health over time) and
compliance (possible matches, KYC cases, AML alerts)."""

from __future__ import annotations

from flask import redirect, render_template, url_for
from werkzeug.wrappers import Response

from app.persistence.db import unit_of_work
from app.services.queries import compliance, overview, risk
from web.console import bp, charts
from web.console.auth import requires
from web.console.forms import arg_text, arg_time


@bp.route("/risk", endpoint="risk")
@requires("risk:read")
def risk_page() -> str | Response:
    wanted = arg_text("account_id")
    if wanted:
        return redirect(url_for("console.risk_account", account_id=wanted))
    with unit_of_work() as session:
        bands = risk.band_counts(session)
        nearest = risk.nearest_liquidation(session)
    chart = charts.bars("Accounts per health band", bands, y_unit="accounts",
                        x_unit="margin status")
    return render_template("console/risk.html", chart=chart, bands=bands, nearest=nearest)


@bp.route("/risk/<path:account_id>")
@requires("risk:read")
def risk_account(account_id: str) -> str:
    with unit_of_work() as session:
        history = risk.margin_history(session, account_id, since=arg_time("from"),
                                      until=arg_time("to"))
    points = [(s.calculated_at, s.health_score) for s in history.snapshots
              if s.health_score is not None]
    marks = [(e.occurred_at, e.event_type, e.status) for e in history.events]
    chart = charts.timeline(f"Margin health of {account_id}", points, marks,
                            y_unit="health score", x_unit="calculated at (UTC)")
    return render_template("console/risk_account.html", account_id=account_id, chart=chart,
                           history=history)


@bp.route("/compliance", endpoint="compliance")
@requires("compliance:read")
def compliance_page() -> str:
    with unit_of_work() as session:
        possible = compliance.possible_matches(session)
        kyc = compliance.kyc_counts(session)
        alerts = overview.open_alerts(session, limit=50)
    return render_template("console/compliance.html", possible=possible, kyc=kyc,
                           alerts=alerts)
