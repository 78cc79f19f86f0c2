"""GET /v1/settlement/commands: finding commands, newest first (its own module so the search
can grow without touching the settlement routes)."""

from __future__ import annotations

from flask import Blueprint, request

from app.services.queries import commands
from web.endpoint import Context, Query, Reply, endpoint
from web.query_args import arg_text, arg_time
from web.responses import CommandPage
from web.routes.views import command_view

bp = Blueprint("command_search", __name__)
READ = "settlement:read"


@endpoint(bp, "GET", "/v1/settlement/commands", scope=READ,
          response=CommandPage,
          summary="Commands newest first (?status=received|validated|settling|settled|failed|"
                  "held, ?party=, ?from=, ?to= as ISO times, ?limit= up to 200, ?cursor=)",
          query=(Query("status", "received, validated, settling, settled, failed or held"),
                 Query("party", "Commands this account pays or receives in"),
                 Query("from", "Received at or after this ISO time"),
                 Query("to", "Received before this ISO time"),
                 Query("limit", "At most this many (up to 200)",
                       {"type": "integer", "minimum": 1, "maximum": 200}),
                 Query("cursor", "`next_cursor` of the previous page")))
def search_commands(ctx: Context) -> Reply:
    page = commands.search(ctx.session, status=arg_text("status"), party=arg_text("party"),
                           since=arg_time("from"), until=arg_time("to"),
                           cursor=arg_text("cursor"), limit=request.args.get("limit", type=int))
    return Reply(200, {"commands": [command_view(c).model_dump(mode="json") for c in page.items],
                       "next_cursor": page.next_cursor})
