"""Settlement tasks: parse, call one service in one unit of work, return a small dict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from app.config import Settings, get_settings
from app.persistence.db import unit_of_work
from app.services import escrows, settlement
from app.services.commands import Outcome
from tasks.celery_app import fusion_task


def _now() -> datetime:
    return datetime.now(UTC)


@fusion_task("settlement.create_escrow")
def create_escrow(command_id: str) -> dict[str, Any]:
    with unit_of_work() as session:
        return escrows.create_escrow(session, command_id, _now()).as_dict()


@fusion_task("settlement.approve_escrow")
def approve_escrow(command_id: str) -> dict[str, Any]:
    with unit_of_work() as session:
        return escrows.approve_escrow(session, command_id, _now()).as_dict()


@fusion_task("settlement.release_escrow")
def release_escrow(command_id: str) -> dict[str, Any]:
    with unit_of_work() as session:
        return escrows.release_escrow(session, command_id, _now(), get_settings()).as_dict()


@fusion_task("settlement.refund_escrow")
def refund_escrow(command_id: str) -> dict[str, Any]:
    grace = timedelta(seconds=get_settings().escrow_refund_grace_seconds)
    with unit_of_work() as session:
        return escrows.refund_escrow(session, command_id, _now(), grace).as_dict()


@fusion_task("settlement.process_command")
def process_command(command_id: str) -> dict[str, Any]:
    return settle_command(command_id, _now(), get_settings()).as_dict()


def settle_command(command_id: str, now: datetime, settings: Settings) -> Outcome:
    """The settlement task's work, in one unit of work."""
    with unit_of_work() as session:
        return settlement.process_command(session, command_id, now, settings)
