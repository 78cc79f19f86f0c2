"""Integration tier: services in, a real worker on the real broker, no HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.support import Worker, wait_for


@pytest.fixture
def run(worker: Worker) -> Callable[[str, str], dict[str, Any]]:
    """Send a task by name for a stored command and wait for its terminal state in Postgres."""
    from tasks.celery_app import send_command_task  # noqa: PLC0415

    def _run(task_name: str, command_id: str) -> dict[str, Any]:
        send_command_task(task_name, command_id)
        return wait_for_command(command_id)

    return _run


def wait_for_command(command_id: str, timeout: float = 30) -> dict[str, Any]:
    from app.persistence.db import unit_of_work  # noqa: PLC0415
    from app.persistence.models import Command  # noqa: PLC0415

    def terminal() -> dict[str, Any] | None:
        with unit_of_work() as session:
            c = session.get(Command, command_id)
            if c is not None and c.status in ("settled", "failed"):
                return {"status": c.status, "reason": c.reason}
        return None

    return wait_for(terminal, timeout=timeout, what=f"command {command_id}")


def fund(account: str, amount: str, asset: str = "USD") -> None:
    """Deposit straight through the service layer: these tests are about other tasks."""
    from app.config import get_settings  # noqa: PLC0415
    from app.persistence.db import unit_of_work  # noqa: PLC0415
    from app.services import intake, settlement  # noqa: PLC0415

    with unit_of_work() as session:
        accepted = intake.request_deposit(session, get_settings().asset_decimals,
                                          account_id=account, asset=asset, amount=amount)
        outcome = settlement.process_command(session, accepted.command_id, datetime.now(UTC),
                                             get_settings())
    assert outcome.status == "settled"


def party(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def count(model: Any, *where: Any) -> int:
    from app.persistence.db import unit_of_work  # noqa: PLC0415

    with unit_of_work() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def posted(account: str, asset: str = "USD") -> Decimal:
    from app.domain import ledger as rules  # noqa: PLC0415
    from app.persistence.db import unit_of_work  # noqa: PLC0415
    from app.persistence.models import LedgerBalance  # noqa: PLC0415

    with unit_of_work() as session:
        balance = session.get(LedgerBalance, (account, asset))
        return rules.posted(balance) if balance else Decimal(0)


def in_an_hour() -> datetime:
    return datetime.now(UTC) + timedelta(hours=1)
