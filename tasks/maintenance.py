"""Periodic housekeeping (celery beat) and the no-op task the benchmark compares against."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from app.config import get_settings
from app.persistence.db import unit_of_work
from app.services.commands import sweep_stuck_commands
from tasks.celery_app import fusion_task, send_command_task


@fusion_task("maintenance.sweep_commands")
def sweep_commands() -> dict[str, Any]:
    """Re-send commands accepted but never run; enqueue only after the sweep commits."""
    bound = timedelta(seconds=get_settings().command_sweep_after_seconds)
    with unit_of_work() as session:
        stuck = sweep_stuck_commands(session, datetime.now(UTC), bound)
    for command_id, task_name in stuck:
        send_command_task(task_name, command_id)
    return {"resent": len(stuck)}


@fusion_task("maintenance.noop")
def noop(command_id: str | None = None) -> dict[str, Any]:
    return {"command_id": command_id, "status": "noop"}
