"""Settlement commands submitted together: each item accepted or refused on its own, the
accepted ones stored set-based in the request's unit of work, and the batch's progress.

An item is exactly the body of a single submission, and its command_id stays its
idempotency key: a command known already (from this batch or an earlier request) is
accepted again without a second effect, the same id with another body is refused
(command_id_reused) and refuses nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from app.domain.commands import CommandStatus
from app.domain.errors import Conflict, DomainError, NotFound
from app.persistence import batch_store
from app.persistence.batch_store import BatchItem, BatchSummary, CommandRow
from app.persistence.models import new_id
from app.services import intake
from app.services.commands import NewCommand
from app.services.outbox import SETTLEMENT_RESULTS, stamped

MAX_ITEMS = 1000


@dataclass(frozen=True, slots=True)
class Submission:
    """The batch's id; per item (by position) its command id and, when refused, why; and
    the ids stored by this request, in request order, for the caller to enqueue."""

    batch_id: str
    refused: dict[int, DomainError]
    command_ids: dict[int, str]
    created: list[str]


def submit_batch(session: Session, decimals: Mapping[str, int],
                 items: Sequence[tuple[int, dict[str, Any]]], item_count: int) -> Submission:
    """Accept the items (position, fields of a settlement command) that pass validation;
    `item_count` counts the request's items, those already refused by the caller included."""
    refused: dict[int, DomainError] = {}
    first: dict[str, NewCommand] = {}
    positions: list[tuple[int, NewCommand]] = []
    for position, fields in items:
        try:
            command = intake.settlement_command(decimals, **fields)
        except DomainError as cause:
            refused[position] = cause
            continue
        earlier = first.setdefault(command.command_id, command)
        if earlier is not command and earlier.fingerprint() != command.fingerprint():
            refused[position] = _reused(command.command_id)
            continue
        positions.append((position, command))
    conn = session.connection()
    batch_id = new_id()
    created = batch_store.accept_many(conn, [_row(c) for c in first.values()],
                                      status=CommandStatus.RECEIVED.value,
                                      topic=SETTLEMENT_RESULTS,
                                      batch_id=batch_id) if first else set()
    known = batch_store.fingerprints(conn, [i for i in first if i not in created])
    for position, command in positions:
        if command.command_id in known and known[command.command_id] != command.fingerprint():
            refused[position] = _reused(command.command_id)
    accepted = [(p, c.command_id) for p, c in positions if p not in refused]
    batch_store.record_batch(conn, batch_id=batch_id, item_count=item_count,
                             rejected=item_count - len(accepted), accepted=accepted)
    return Submission(batch_id, refused, dict(accepted),
                      [i for i in dict.fromkeys(c for _, c in accepted) if i in created])


def _reused(command_id: str) -> Conflict:
    return Conflict(f"command {command_id} was already submitted with a different body",
                    code="command_id_reused")


def _row(command: NewCommand) -> CommandRow:
    return CommandRow(
        command.command_id, command.type.value, command.payload, command.fingerprint(),
        command.columns, new_id(),
        stamped({"command_id": command.command_id, "type": command.type.value,
                 "status": CommandStatus.RECEIVED.value}))


def batch_progress(session: Session, batch_id: str, *, after: int, limit: int
                   ) -> tuple[BatchSummary, list[BatchItem]]:
    """The batch's counts per command status, and a page of its accepted items."""
    conn = session.connection()
    summary = batch_store.batch_summary(conn, batch_id)
    if summary is None:
        raise NotFound(f"batch {batch_id} not found", code="batch_not_found")
    return summary, batch_store.batch_items(conn, batch_id, after=after, limit=limit)
