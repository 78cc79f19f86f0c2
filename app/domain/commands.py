"""The forward-only command lifecycle: received → validated → settling → settled | failed."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from app.domain.errors import DomainError, GuardFailed, Held


class CommandType(StrEnum):
    DVP = "DVP"
    COLLATERAL_TRANSFER = "COLLATERAL_TRANSFER"
    DEPOSIT = "DEPOSIT"
    ESCROW_CREATE = "ESCROW_CREATE"
    ESCROW_APPROVE = "ESCROW_APPROVE"
    ESCROW_RELEASE = "ESCROW_RELEASE"
    ESCROW_REFUND = "ESCROW_REFUND"


class CommandStatus(StrEnum):
    RECEIVED = "received"
    VALIDATED = "validated"
    SETTLING = "settling"
    SETTLED = "settled"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (CommandStatus.SETTLED, CommandStatus.FAILED)


_FORWARD: dict[CommandStatus, frozenset[CommandStatus]] = {
    CommandStatus.RECEIVED: frozenset({CommandStatus.VALIDATED, CommandStatus.FAILED}),
    CommandStatus.VALIDATED: frozenset({CommandStatus.SETTLING, CommandStatus.FAILED}),
    CommandStatus.SETTLING: frozenset({CommandStatus.SETTLED, CommandStatus.FAILED}),
    CommandStatus.SETTLED: frozenset(),
    CommandStatus.FAILED: frozenset(),
}


def is_held(status: str, reason: str | None) -> bool:
    """A hold (the compliance gate's `review`) leaves the command `received` with its reason
    shown, for the sweeper to offer again; a command simply waiting has no reason."""
    return status == CommandStatus.RECEIVED.value and reason is not None


def advance(current: CommandStatus, target: CommandStatus) -> CommandStatus:
    if target not in _FORWARD[current]:
        raise GuardFailed(f"command cannot move from {current} to {target}",
                          code="illegal_command_transition")
    return target


# Which task runs which command type; the sweeper and the API both read this one table.
TASK_FOR_COMMAND: dict[CommandType, str] = {
    CommandType.DVP: "settlement.process_command",
    CommandType.COLLATERAL_TRANSFER: "settlement.process_command",
    CommandType.DEPOSIT: "settlement.process_command",
    CommandType.ESCROW_CREATE: "settlement.create_escrow",
    CommandType.ESCROW_APPROVE: "settlement.approve_escrow",
    CommandType.ESCROW_RELEASE: "settlement.release_escrow",
    CommandType.ESCROW_REFUND: "settlement.refund_escrow",
}


# A hold's detail is shown to operators on the command; a long one is cut rather than refused.
HOLD_DETAIL_LIMIT = 2000


@dataclass(frozen=True, slots=True)
class Refusal:
    """What a refused command becomes: `failed` with the guard's code and an outcome event,
    or, for a hold, still where it was with the reason shown and no event (the sweeper
    offers it again later)."""

    status: CommandStatus
    reason: str
    detail: str
    event_type: str | None
    shown_on_escrow: bool


def refusal(current: CommandStatus, cause: DomainError) -> Refusal:
    # A compliance hold or refusal is shown on the escrow itself, not only on the command.
    on_escrow = cause.code.startswith("compliance_")
    if isinstance(cause, Held):
        return Refusal(current, cause.code, cause.message[:HOLD_DETAIL_LIMIT], None, on_escrow)
    return Refusal(advance(current, CommandStatus.FAILED), cause.code, cause.message,
                   "command.failed", on_escrow)
