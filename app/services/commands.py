"""Accepting commands, running them through their forward-only lifecycle, and sweeping strays."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, literal, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import ReturningInsert

from app.domain.commands import (
    TASK_FOR_COMMAND,
    CommandStatus,
    CommandType,
    advance,
    is_held,
    refusal,
)
from app.domain.errors import Conflict, DomainError, NotFound
from app.persistence.models import Command, EscrowRecord, OutboxEvent, new_id
from app.services.outbox import SETTLEMENT_RESULTS, record_event, stamped


def request_hash(body: dict[str, Any]) -> str:
    """A stable fingerprint of a request body, to tell a replay from a reused key."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Accepted:
    """What the adapter needs after commit: which task to send for which command."""

    command_id: str
    task_name: str
    created: bool
    escrow_id: str | None = None


@dataclass(frozen=True, slots=True)
class NewCommand:
    """A validated command not stored yet: its payload is what its fingerprint covers;
    `columns` are its optional columns."""

    command_id: str
    type: CommandType
    payload: dict[str, Any]
    columns: dict[str, Any]

    def fingerprint(self) -> str:
        return request_hash({"type": self.type.value, **self.payload})


@dataclass(frozen=True, slots=True)
class Outcome:
    command_id: str
    status: str
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"command_id": self.command_id, "status": self.status, "reason": self.reason}


_OPTIONAL_COLUMNS = ("escrow_id", "workflow_id", "account_ref", "payer", "payee", "asset",
                    "amount", "counter_asset", "counter_amount", "deadline")


def _accept_statement() -> ReturningInsert[tuple[str]]:
    """The command and its command.accepted event in one statement, built once (every API
    write runs it): the event is inserted only when the command was."""
    commands, outbox = cast(Table, Command.__table__), cast(Table, OutboxEvent.__table__)
    columns = ("command_id", "type", "status", "payload", "request_hash", *_OPTIONAL_COLUMNS)
    stored = (
        insert(commands)
        .values({c: bindparam(c, type_=commands.c[c].type) for c in columns})
        .on_conflict_do_nothing(index_elements=[commands.c.command_id])
        .returning(commands.c.command_id)
        .cte("stored")
    )
    return (
        insert(outbox)
        .from_select(
            ["id", "topic", "event_type", "aggregate_id", "payload", "attempts"],
            select(bindparam("event_id", type_=outbox.c.id.type),
                   literal(SETTLEMENT_RESULTS), literal("command.accepted"),
                   stored.c.command_id, bindparam("event", type_=outbox.c.payload.type),
                   literal(0))
            .select_from(stored))
        .returning(outbox.c.aggregate_id)
    )


_ACCEPT = _accept_statement()


def accept_command(
    session: Session, *, command_id: str, type: CommandType, payload: dict[str, Any],
    **columns: Any,
) -> Accepted:
    """Store a command in `received` once. Same id and body again: the first acceptance.
    Same id, other body: a conflict. `columns` are the command's optional columns."""
    unknown = set(columns) - set(_OPTIONAL_COLUMNS)
    if unknown:
        raise TypeError(f"not command columns: {sorted(unknown)}")
    fingerprint = request_hash({"type": type.value, **payload})
    announced = session.execute(_ACCEPT, {
        **dict.fromkeys(_OPTIONAL_COLUMNS), **columns,
        "command_id": command_id, "type": type.value, "status": CommandStatus.RECEIVED.value,
        "payload": payload, "request_hash": fingerprint, "event_id": new_id(),
        "event": stamped({"command_id": command_id, "type": type.value, "status": "received"}),
    }).scalar_one_or_none()
    task_name = TASK_FOR_COMMAND[type]
    if announced is None:
        existing = session.get(Command, command_id)
        if existing is None or existing.request_hash != fingerprint:
            raise Conflict(f"command {command_id} was already submitted with a different body",
                           code="command_id_reused")
        return Accepted(command_id, task_name, created=False, escrow_id=existing.escrow_id)
    return Accepted(command_id, task_name, created=True, escrow_id=columns.get("escrow_id"))


def get_command(session: Session, command_id: str) -> Command:
    command = session.get(Command, command_id)
    if command is None:
        raise NotFound(f"command {command_id} not found", code="command_not_found")
    return command


def _move(command: Command, target: CommandStatus, now: datetime) -> None:
    command.status = advance(CommandStatus(command.status), target).value
    setattr(command, f"{target.value}_at", now)


Handler = Callable[[Session, Command, datetime], None]


def run_command(session: Session, command_id: str, now: datetime, handler: Handler,
                *, expected: frozenset[CommandType] | None = None) -> Outcome:
    """Run a command exactly once: lock it, skip it if already terminal, otherwise walk it
    received → validated → settling → settled, or to failed with the guard's code.

    The command row lock serialises duplicate deliveries; the handler's effects sit in a
    savepoint so that a refusal rolls them back while the failure itself is still recorded.
    """
    command = session.get(Command, command_id, with_for_update=True)
    if command is None:
        raise NotFound(f"command {command_id} not found", code="command_not_found")
    if expected is not None and CommandType(command.type) not in expected:
        raise Conflict(f"command {command_id} is a {command.type}", code="wrong_command_type")
    if CommandStatus(command.status).terminal:
        return Outcome(command_id, command.status, command.reason)
    if command.deadline is not None and now > command.deadline:
        return _fail(session, command, now, "deadline_exceeded",
                     f"deadline {command.deadline.isoformat()} passed before settlement")
    try:
        with session.begin_nested():
            handler(session, command, now)
    except DomainError as cause:
        # The savepoint rollback expired the row; reload it before recording the outcome.
        session.refresh(command)
        return record_refusal(session, command, now, cause)
    # The whole walk is recorded after the handler, in one UPDATE with the outcome: a refusal
    # rolls the savepoint back and leaves the command `received` either way.
    for step in (CommandStatus.VALIDATED, CommandStatus.SETTLING, CommandStatus.SETTLED):
        _move(command, step, now)
    command.reason = command.reason_detail = None
    _publish(session, command, "command.settled")
    return Outcome(command_id, command.status)


def record_refusal(session: Session, command: Command, now: datetime,
                   cause: DomainError) -> Outcome:
    """A hold leaves the command `received` with the reason shown, for the sweeper to offer
    again later; any other refusal fails it with the guard's code (domain.commands.refusal)."""
    refused = refusal(CommandStatus(command.status), cause)
    if refused.shown_on_escrow and command.escrow_id:
        escrow = session.get(EscrowRecord, command.escrow_id)
        if escrow is not None:
            escrow.hold_reason = escrow_hold_reason(refused.reason, refused.detail)
    if refused.event_type is None:
        command.reason, command.reason_detail = refused.reason, refused.detail
        return Outcome(command.command_id, command.status, refused.reason)
    return _fail(session, command, now, refused.reason, refused.detail)


def escrow_hold_reason(reason: str, detail: str) -> str:
    """How a compliance hold or refusal of a command is shown on its escrow."""
    return f"{reason}: {detail}"[:2000]


def _fail(session: Session, command: Command, now: datetime, reason: str,
          detail: str) -> Outcome:
    _move(command, CommandStatus.FAILED, now)
    command.reason, command.reason_detail = reason, detail
    _publish(session, command, "command.failed")
    return Outcome(command.command_id, command.status, reason)


def outcome_data(command_id: str, *, type: str, workflow_id: str | None,
                 escrow_id: str | None, status: str, reason: str | None) -> dict[str, Any]:
    """The body of command.settled / command.failed on settlement.results.v1."""
    return {"command_id": command_id, "type": type, "workflow_id": workflow_id,
            "escrow_id": escrow_id, "status": status, "reason": reason}


def _publish(session: Session, command: Command, event_type: str) -> None:
    record_event(session, topic=SETTLEMENT_RESULTS, event_type=event_type,
                 aggregate_id=command.command_id,
                 data=outcome_data(command.command_id, type=command.type,
                                   workflow_id=command.workflow_id, escrow_id=command.escrow_id,
                                   status=command.status, reason=command.reason))


def next_retry_at(command: Command, sweep_after: timedelta) -> datetime | None:
    """When the sweeper offers a held command again (None for any other): it re-sends a
    command still `received` once its last send is `sweep_after` old, at the first sweep
    after that, so the retry comes at most one sweep interval later than this."""
    if not is_held(command.status, command.reason):
        return None
    return command.last_enqueued_at + sweep_after


def sweep_stuck_commands(session: Session, now: datetime, older_than: timedelta,
                         limit: int = 500, *,
                         enqueued_after: datetime | None = None) -> list[tuple[str, str]]:
    """Commands accepted but never run (the broker lost the message, or the API died between
    commit and enqueue). Returns (command_id, task name) pairs to send again after commit.
    `enqueued_after` narrows the sweep to sends from then on (those a broker outage lost)."""
    window = [Command.last_enqueued_at >= enqueued_after] if enqueued_after is not None else []
    stuck = session.scalars(
        select(Command)
        .where(Command.status == CommandStatus.RECEIVED.value,
               Command.last_enqueued_at < now - older_than, *window)
        .order_by(Command.last_enqueued_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for command in stuck:
        # Re-arm the bound so a command still waiting in a long queue is not sent every sweep.
        command.enqueue_count += 1
        command.last_enqueued_at = now
    return [(c.command_id, TASK_FOR_COMMAND[CommandType(c.type)]) for c in stuck]


def apply_reported_status(session: Session, event_type: str, data: dict[str, Any],
                          now: datetime) -> str:
    """SettlementInitiated/Confirmed/Failed from the settlement workflow. A reported failure
    fails a command still in flight; the others are recorded on the inbound log only."""
    command = session.get(Command, data["command_id"], with_for_update=True)
    if command is None:
        return "unknown_command"
    if event_type != "SettlementFailed" or CommandStatus(command.status).terminal:
        return "recorded"
    _fail(session, command, now, "reported_failed",
          data.get("status_reason") or "the settlement workflow reported a failure")
    return "applied"
