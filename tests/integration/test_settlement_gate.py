"""Settlement through the compliance gate: blocked refuses, review holds until cleared."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from app.config import get_settings
from app.domain.compliance.alerts import AlertKind
from app.persistence.db import unit_of_work
from app.persistence.models import Command
from app.services import intake
from app.services.compliance import alerts, kyc
from app.services.compliance.pii import pii_cipher
from tests.integration.conftest import fund, in_an_hour, party, posted
from tests.support import wait_for

pytestmark = pytest.mark.integration
Run = Callable[[str, str], dict[str, Any]]


def transfer(payer: str, payee: str, amount: str = "10.00") -> str:
    with unit_of_work() as session:
        return intake.submit_settlement_command(
            session, get_settings().asset_decimals, command_id=str(uuid.uuid4()),
            type="COLLATERAL_TRANSFER", workflow_id="wf-gate", account_ref="acc", payer=payer,
            payee=payee, asset="USD", amount=amount, deadline=in_an_hour()).command_id


def reject_kyc(who: str) -> None:
    with unit_of_work() as session:
        case_id = kyc.open_case(session, pii_cipher(get_settings()), party=who,
                                document_type="passport", personal_data={"full_name": "X Y"},
                                photo_quality="low", email_verified=False,
                                phone_verified=False).case.case_id
    for move in ("in_review", "rejected"):
        with unit_of_work() as session:
            kyc.transition_case(session, case_id, to=move, reason="forged document",
                                reviewer="rita", now=datetime.now(UTC))


def test_a_transfer_to_a_blocked_party_fails_and_moves_nothing(run: Run) -> None:
    payer, payee = party("gate-payer"), party("gate-rejected")
    fund(payer, "50.00")
    reject_kyc(payee)
    command_id = transfer(payer, payee)
    outcome = run("settlement.process_command", command_id)
    assert outcome == {"status": "failed", "reason": "compliance_blocked"}
    with unit_of_work() as session:
        command = session.get(Command, command_id)
        assert command is not None and "kyc_rejected" in (command.reason_detail or "")
    assert posted(payer) == Decimal("50.00")
    assert posted(payee) == Decimal(0)


def test_a_held_transfer_waits_in_received_and_settles_once_cleared(run: Run) -> None:
    from tasks.celery_app import celery_app, send_command_task  # noqa: PLC0415

    payer, payee = party("gate-payer"), party("gate-review")
    fund(payer, "50.00")
    with unit_of_work() as session:
        alert_id = alerts.open_alert(session, dedup_key=f"test:{payee}", kind=AlertKind.AML_CHECK,
                                     party=payee, level="high", details={})
    command_id = transfer(payer, payee)
    send_command_task("settlement.process_command", command_id)

    def held() -> Command | None:
        with unit_of_work() as session:
            command = session.get(Command, command_id)
            return command if command is not None and command.reason else None

    command = wait_for(held, what="the command held")
    assert (command.status, command.reason) == ("received", "compliance_review")
    assert "aml_high_risk_alert" in (command.reason_detail or "")
    assert posted(payee) == Decimal(0)

    for move, reason in (("investigating", None), ("resolved", "source of funds documented")):
        with unit_of_work() as session:
            alerts.transition_alert(session, alert_id, to=move, reason=reason, reviewer="rita",
                                    now=datetime.now(UTC))

    def settled() -> bool:
        celery_app.send_task("maintenance.sweep_commands").get(timeout=30)
        with unit_of_work() as session:
            found = session.get(Command, command_id)
            return found is not None and found.status == "settled"

    bound = get_settings().command_sweep_after_seconds
    wait_for(settled, timeout=bound + 30, interval=1.0, what="the sweeper to settle it")
    assert posted(payee) == Decimal("10.00")
