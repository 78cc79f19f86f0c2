"""Settlement tasks: parse, call one service in one unit of work, return a small dict."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from celery import Task

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


@fusion_task("settlement.process_command", bind=True)
def process_command(task: Task, command_id: str) -> dict[str, Any]:
    return settle_command(command_id, _now(), get_settings(), task.request.id).as_dict()


def settle_command(command_id: str, now: datetime, settings: Settings,
                   task_id: str | None = None) -> Outcome:
    """The settlement task's work, in one unit of work: its command, and other single
    commands waiting (settings.settlement_take_waiting); each names this task as settled_by."""
    with unit_of_work() as session:
        return settlement.process_command(session, command_id, now, settings,
                                          task_id or command_id,
                                          take_waiting=settings.settlement_take_waiting)


@fusion_task("settlement.settle_batch", bind=True)
def settle_batch(task: Task, command_ids: list[str], batch_id: str | None = None
                 ) -> dict[str, Any]:
    """Settle a list of command ids in one unit of work; each settled or failed command
    names the batch (or, without one, this task)."""
    settled_by = batch_id or task.request.id or "settlement.settle_batch"
    with unit_of_work() as session:
        result = settlement.settle_batch(session, command_ids, _now(), get_settings(),
                                         settled_by)
    return {"batch_id": batch_id, "counts": dict(Counter(o.status for o in result.outcomes)),
            "not_found": result.not_found, "wrong_type": result.wrong_type}
