"""A command held by the compliance gate says in its record when the sweeper offers it again:
`next_retry_at` on GET /v1/settlement/commands/{id} and in `fusion-prime commands show`."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner

from app.config import get_settings
from app.domain.compliance.alerts import AlertKind
from app.persistence.db import unit_of_work
from app.persistence.models import Command
from app.services.compliance import alerts
from tests.api import Api, unique
from tests.integration.conftest import in_an_hour
from tests.support import wait_for

pytestmark = pytest.mark.e2e


def test_a_held_command_shows_when_it_is_retried(api: Api) -> None:
    payer, payee = unique("held-payer"), unique("held-payee")
    deposit = api.deposit(payer, "50.00")
    assert api.command(deposit["command_id"])["next_retry_at"] is None  # settled: no retry
    with unit_of_work() as session:
        alerts.open_alert(session, dedup_key=f"test:{payee}", kind=AlertKind.AML_CHECK,
                          party=payee, level="high", details={})
    command_id = str(uuid.uuid4())
    api.accepted("/v1/settlement/commands", {
        "command_id": command_id, "type": "COLLATERAL_TRANSFER", "workflow_id": "wf-held",
        "account_ref": "acc", "payer": payer, "payee": payee, "asset": "USD",
        "amount": "10.00", "deadline": in_an_hour().isoformat()})

    def held() -> dict[str, Any] | None:
        view = api.command(command_id)
        return view if view["reason"] == "compliance_review" else None

    view = wait_for(held, what="the command held")
    with unit_of_work() as session:
        row = session.get(Command, command_id)
        assert row is not None
        expected = row.last_enqueued_at + timedelta(
            seconds=get_settings().command_sweep_after_seconds)
    assert view["status"] == "received"
    assert datetime.fromisoformat(view["next_retry_at"]) == expected

    from cli.main import cli  # noqa: PLC0415

    shown = CliRunner().invoke(cli, ["commands", "show", command_id, "--json"])
    assert shown.exit_code == 0, shown.output
    assert datetime.fromisoformat(json.loads(shown.output)["next_retry_at"]) == expected
