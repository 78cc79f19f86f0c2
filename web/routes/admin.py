"""/v1/admin: the dead-letter workflow (admin scope)."""

from __future__ import annotations

import base64

from flask import Blueprint, request
from pydantic import ConfigDict, Field

from app.messaging.inbound import Undecodable
from app.services import dead_letters
from tasks.senders import send_replay
from web.endpoint import Context, Query, Reply, endpoint
from web.problems import ApiProblem
from web.responses import DeadLetterList, DeadLetterView, ReplayAccepted
from web.schemas import Request

bp = Blueprint("admin", __name__)
ADMIN = "admin"


class Replay(Request):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {}, {"data_base64": "eyJhcHByb3ZhbHNSZXF1aXJlZCI6IDJ9",
             "attributes": {"ce-type": "EscrowDeployed"}}]})

    data_base64: str | None = Field(default=None, description="A corrected body, base64")
    attributes: dict[str, str] | None = Field(default=None,
                                              description="Corrected message attributes")


@endpoint(bp, "GET", "/v1/admin/dead-letters", response=DeadLetterList, scope=ADMIN,
          summary="Recent dead letters (?reason=, ?pending=true, ?limit=)",
          query=(Query("reason", "Only this reason (invalid_payload, oversize, ...)"),
                 Query("pending", "`true`: only letters not replayed yet",
                       {"type": "string", "enum": ["true", "false"]}),
                 Query("limit", "At most this many (default 100)",
                       {"type": "integer", "minimum": 1, "maximum": 1000})))
def list_dead_letters(ctx: Context) -> Reply:
    limit = min(max(request.args.get("limit", 100, type=int) or 100, 1), 1000)
    letters = dead_letters.recent(ctx.session, limit=limit, reason=request.args.get("reason"),
                                  pending_only=request.args.get("pending") == "true")
    return Reply(200, {"dead_letters": [dead_letters.describe(x) for x in letters]})


@endpoint(bp, "GET", "/v1/admin/dead-letters/{letter_id}", response=DeadLetterView, scope=ADMIN,
          summary="One dead letter with its raw body")
def get_dead_letter(ctx: Context, letter_id: str) -> Reply:
    letter = dead_letters.get(ctx.session, letter_id)
    return Reply(200, dead_letters.describe(letter, with_data=True))


@endpoint(bp, "POST", "/v1/admin/dead-letters/{letter_id}/replay", scope=ADMIN, body=Replay,
          status=202, summary="Route a dead letter again, optionally with a corrected body",
          response=ReplayAccepted)
def replay_dead_letter(ctx: Context, body: Replay, letter_id: str) -> Reply:
    try:
        data = base64.b64decode(body.data_base64, validate=True) if body.data_base64 else None
    except ValueError as exc:  # binascii.Error, or text that is not ASCII
        raise ApiProblem(422, "invalid_base64", "data_base64 is not base64") from exc
    try:
        routed = dead_letters.replay(ctx.session, letter_id, data=data,
                                     attributes=body.attributes,
                                     resend_after=ctx.settings.inbox_resend_after)
    except Undecodable as exc:
        raise ApiProblem(422, exc.reason, f"still not acceptable: {exc.detail}") from exc
    ctx.after_commit(send_replay, routed)
    return Reply(202, {"dead_letter_id": letter_id, "task_id": routed.task_id,
                       "task_name": routed.task_name})
