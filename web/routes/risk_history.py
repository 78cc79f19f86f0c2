"""GET /v1/risk/accounts/{id}/margin-health/history: an account's stored snapshots over time,
with its margin events (its own module beside web/routes/risk.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint

from app.services.intake import check_account
from app.services.queries import risk as risk_views
from app.services.risk import margin, views
from web.endpoint import Context, Query, Reply, endpoint
from web.query_args import arg_time
from web.responses import MarginHistory

bp = Blueprint("risk_history", __name__)
READ = "risk:read"


@endpoint(bp, "GET", "/v1/risk/accounts/{account_id}/margin-health/history", scope=READ,
          response=MarginHistory,
          summary="Stored margin-health snapshots oldest first, with the margin events among "
                  "them (?from=, ?to= ISO times; at most the newest 2000, `truncated` says so)",
          query=(Query("from", "Snapshots at or after this ISO time"),
                 Query("to", "Snapshots before this ISO time")))
def get_margin_history(ctx: Context, account_id: str) -> Reply:
    account = margin.get_account(ctx.session, check_account(account_id, "account_id"))
    history = risk_views.margin_history(ctx.session, account.account_id,
                                        since=arg_time("from"), until=arg_time("to"))
    now = datetime.now(UTC)
    return Reply(200, {"account_id": account.account_id,
                       "snapshots": [views.snapshot_view(s, now) for s in history.snapshots],
                       "events": [views.event_view(e) for e in history.events],
                       "truncated": history.truncated})
