"""The forward-only settlement command lifecycle (DOMAIN.md §2) and its task routing table."""

from __future__ import annotations

import re
from itertools import product

import pytest

from app.domain.commands import TASK_FOR_COMMAND, CommandStatus, CommandType, advance
from app.domain.errors import GuardFailed

S = CommandStatus
ALLOWED = {
    (S.RECEIVED, S.VALIDATED), (S.RECEIVED, S.FAILED),
    (S.VALIDATED, S.SETTLING), (S.VALIDATED, S.FAILED),
    (S.SETTLING, S.SETTLED), (S.SETTLING, S.FAILED),
}
ALL_PAIRS = list(product(CommandStatus, CommandStatus))
REFUSED = [pair for pair in ALL_PAIRS if pair not in ALLOWED]


def test_the_tables_cover_every_pair() -> None:
    assert len(ALL_PAIRS) == 25
    assert len(REFUSED) == 25 - 6


@pytest.mark.parametrize(("current", "target"), sorted(ALLOWED))
def test_allowed_transitions(current: CommandStatus, target: CommandStatus) -> None:
    assert advance(current, target) is target


@pytest.mark.parametrize(("current", "target"), REFUSED)
def test_every_other_transition_is_refused(current: CommandStatus,
                                           target: CommandStatus) -> None:
    with pytest.raises(GuardFailed) as info:
        advance(current, target)
    assert info.value.code == "illegal_command_transition"
    assert str(current) in info.value.message
    assert str(target) in info.value.message


def test_advance_accepts_the_wire_strings() -> None:
    # Statuses are StrEnums; values read back from the database as plain strings still work.
    assert advance(S("received"), S("validated")) == "validated"


@pytest.mark.parametrize(("status", "terminal"), [
    (S.RECEIVED, False), (S.VALIDATED, False), (S.SETTLING, False),
    (S.SETTLED, True), (S.FAILED, True),
])
def test_terminal_property(status: CommandStatus, terminal: bool) -> None:
    assert status.terminal is terminal


def test_terminal_states_have_no_way_out_and_others_can_always_fail() -> None:
    for status in CommandStatus:
        exits = {target for (current, target) in ALLOWED if current is status}
        assert (not exits) is status.terminal
        if not status.terminal:
            assert S.FAILED in exits


def test_status_values_are_the_public_vocabulary() -> None:
    assert [s.value for s in CommandStatus] == [
        "received", "validated", "settling", "settled", "failed"]


def test_every_command_type_has_a_task() -> None:
    assert set(TASK_FOR_COMMAND) == set(CommandType)


@pytest.mark.parametrize("command_type", list(CommandType))
def test_task_names_are_stable_settlement_names(command_type: CommandType) -> None:
    assert re.fullmatch(r"settlement\.[a-z_]+", TASK_FOR_COMMAND[command_type])


@pytest.mark.parametrize(("command_type", "task"), [
    (CommandType.DVP, "settlement.process_command"),
    (CommandType.COLLATERAL_TRANSFER, "settlement.process_command"),
    (CommandType.DEPOSIT, "settlement.process_command"),
    (CommandType.ESCROW_CREATE, "settlement.create_escrow"),
    (CommandType.ESCROW_APPROVE, "settlement.approve_escrow"),
    (CommandType.ESCROW_RELEASE, "settlement.release_escrow"),
    (CommandType.ESCROW_REFUND, "settlement.refund_escrow"),
])
def test_task_routing_table(command_type: CommandType, task: str) -> None:
    # These names are a contract: queued messages and the sweeper refer to them by name.
    assert TASK_FOR_COMMAND[command_type] == task


def test_command_type_values_are_the_public_vocabulary() -> None:
    assert {t.value for t in CommandType} >= {"DVP", "COLLATERAL_TRANSFER"}


def test_every_routed_task_is_registered() -> None:
    # Importing the task modules needs no broker or database; a renamed task would leave the
    # sweeper sending commands to a name no worker knows.
    import tasks.settlement  # noqa: F401, PLC0415
    from tasks.celery_app import celery_app  # noqa: PLC0415

    assert set(TASK_FOR_COMMAND.values()) <= set(celery_app.tasks)
