"""Settlement command batches at the HTTP edge: each item parsed on its own, the response
items in the request's order, and the batch's settle tasks sent after commit."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from app.persistence.batch_store import BatchItem, BatchSummary
from app.services.command_batches import Submission
from web.problems import domain_problem, validation_problem
from web.schemas import BatchAcceptedResponse, BatchItemAccepted, BatchView, SettlementCommand

# Commands per settle_batch task: the whole request (at most 1,000) in one unit of work.
SETTLE_BATCH_SIZE = 1000


def parse_items(raw: list[Any]) -> tuple[list[tuple[int, dict[str, Any]]], dict[int, Any]]:
    """(position, fields) of the items that match the single command's schema, and the
    problem body of each that does not."""
    items: list[tuple[int, dict[str, Any]]] = []
    problems: dict[int, Any] = {}
    for position, item in enumerate(raw):
        try:
            # Through JSON, so that an item is read exactly as the single POST reads its body.
            parsed = SettlementCommand.model_validate_json(json.dumps(item))
        except ValidationError as invalid:
            problems[position] = validation_problem(invalid)
            continue
        items.append((position, parsed.model_dump()))
    return items, problems


def batch_accepted(submission: Submission, raw: list[Any],
                   problems: dict[int, Any]) -> dict[str, Any]:
    items = []
    for position, item in enumerate(raw):
        given = item.get("command_id") if isinstance(item, dict) else None
        command_id = submission.command_ids.get(position, given if isinstance(given, str)
                                                else None)
        if position in problems:
            items.append(BatchItemAccepted(command_id=command_id, status="rejected",
                                           problem=problems[position]))
        elif position in submission.refused:
            items.append(BatchItemAccepted(
                command_id=command_id, status="rejected",
                problem=domain_problem(submission.refused[position])))
        else:
            items.append(BatchItemAccepted(command_id=command_id, status="accepted"))
    body = BatchAcceptedResponse(
        batch_id=submission.batch_id,
        status_url=f"/v1/settlement/command-batches/{submission.batch_id}", items=items)
    reply = body.model_dump(mode="json")
    for item in reply["items"]:  # `problem` only on a rejected item; command_id always
        if item["problem"] is None:
            del item["problem"]
    return reply


def batch_view(summary: BatchSummary, items: list[BatchItem], limit: int) -> dict[str, Any]:
    view = BatchView(
        batch_id=summary.batch_id, created_at=summary.created_at,
        item_count=summary.item_count, accepted_count=summary.accepted_count,
        rejected_count=summary.rejected_count, counts=summary.counts,
        items=[{"position": i.position, "command_id": i.command_id, "status": i.status,
                "reason": i.reason, "reason_detail": i.reason_detail,
                "settled_by": i.settled_by, "settled_at": i.settled_at,
                "failed_at": i.failed_at} for i in items],
        next_cursor=str(items[-1].position) if len(items) == limit else None)
    return view.model_dump(mode="json")
