"""Finding commands and telling one command's story: its walk, reasons, transfers and outcome."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from app.domain.commands import CommandStatus
from app.domain.commands import is_held as domain_is_held
from app.domain.errors import InvalidInput, NotFound
from app.domain.settlement import LEG_NAMES, transfer_id
from app.persistence.models import Command, EscrowRecord, LedgerTransfer, OutboxEvent
from app.services.escrows import funding_transfer_id, release_transfer_id
from app.services.queries.paging import Page, clamp, decode_cursor, encode_cursor

# A hold leaves a command `received` with its reason (app.services.commands.record_refusal);
# searches offer it as a status of its own because that is what an operator looks for.
HELD = "held"
SEARCH_STATUSES = (*(s.value for s in CommandStatus), HELD)


def is_held(command: Command) -> bool:
    return domain_is_held(command.status, command.reason)


def held_clause() -> ColumnElement[bool]:
    """app.domain.commands.is_held as a WHERE clause, for searches and counts."""
    return and_(Command.status == CommandStatus.RECEIVED.value, Command.reason.is_not(None))


def _status_filter(status: str) -> ColumnElement[bool]:
    if status == HELD:
        return held_clause()
    if status not in SEARCH_STATUSES:
        raise InvalidInput(f"status must be one of {list(SEARCH_STATUSES)}",
                           code="invalid_status", field="status")
    return Command.status == status


def search(session: Session, *, status: str | None = None, party: str | None = None,
           since: datetime | None = None, until: datetime | None = None,
           cursor: str | None = None, limit: int | None = None) -> Page[Command]:
    """Commands newest first (by received_at), filtered by status, party (payer or payee)
    and the [since, until) window of received_at."""
    size = clamp(limit)
    query = select(Command).order_by(Command.received_at.desc(), Command.command_id.desc())
    if status:
        query = query.where(_status_filter(status))
    if party:
        query = query.where(or_(Command.payer == party, Command.payee == party))
    if since is not None:
        query = query.where(Command.received_at >= since)
    if until is not None:
        query = query.where(Command.received_at < until)
    if cursor:
        at, key = decode_cursor(cursor)
        query = query.where(or_(Command.received_at < at,
                                and_(Command.received_at == at, Command.command_id < key)))
    rows = list(session.scalars(query.limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    last = rows[-1] if more else None
    return Page(rows, encode_cursor(last.received_at, last.command_id) if last else None)


def held(session: Session, limit: int = 20) -> list[Command]:
    """The newest held commands (ix_commands_held)."""
    return search(session, status=HELD, limit=limit).items


@dataclass(frozen=True)
class Step:
    name: str
    at: datetime | None


@dataclass(frozen=True)
class Story:
    command: Command
    held: bool
    steps: list[Step]
    transfers: list[LedgerTransfer]
    events: list[OutboxEvent]
    escrow: EscrowRecord | None


def story(session: Session, command_id: str) -> Story:
    """Everything about one command, by primary keys and ix_outbox_aggregate."""
    command = session.get(Command, command_id)
    if command is None:
        raise NotFound(f"command {command_id} not found", code="command_not_found")
    steps = [Step("accepted", command.received_at), Step("validated", command.validated_at),
             Step("settling", command.settling_at), Step("settled", command.settled_at),
             Step("failed", command.failed_at)]
    ids = [transfer_id(command_id, leg) for leg in LEG_NAMES]
    escrow = session.get(EscrowRecord, command.escrow_id) if command.escrow_id else None
    if command.escrow_id:
        ids += [funding_transfer_id(command.escrow_id), release_transfer_id(command.escrow_id)]
    transfers = list(session.scalars(select(LedgerTransfer)
                                     .where(LedgerTransfer.transfer_id.in_(ids))
                                     .order_by(LedgerTransfer.created_at)))
    events = list(session.scalars(select(OutboxEvent)
                                  .where(OutboxEvent.aggregate_id == command_id)
                                  .order_by(OutboxEvent.seq)))
    return Story(command, is_held(command), [s for s in steps if s.at is not None],
                 transfers, events, escrow)
