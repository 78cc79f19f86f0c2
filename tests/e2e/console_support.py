"""Driving the operator console through the Flask test client: sign in, read pages, post forms
with the page's CSRF token; and the facts the console tests look at (a held command, a
quarantined task, a batch that stays running)."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.support import wait_for

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Console:
    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def page(self, path: str, status: int = 200) -> str:
        response = self.client.get(path)
        assert response.status_code == status, (path, response.status_code)
        return response.get_data(as_text=True)

    def csrf(self, path: str) -> str:
        found = CSRF.search(self.page(path))
        assert found, f"no CSRF token on {path}"
        return found.group(1)

    def post(self, path: str, form: dict[str, str], *, token_from: str) -> TestResponse:
        return self.client.post(path, data={**form, "csrf_token": self.csrf(token_from)})

    def sign_in(self, key: str) -> TestResponse:
        return self.post("/console/sign-in", {"api_key": key}, token_from="/console/sign-in")


def held_command(writer_key: str, client: FlaskClient) -> str:
    """A transfer to a party with an open high AML alert: the gate holds it for review."""
    from app.domain.compliance.alerts import AlertKind  # noqa: PLC0415
    from app.persistence.db import unit_of_work  # noqa: PLC0415
    from app.persistence.models import Command  # noqa: PLC0415
    from app.services.compliance import alerts  # noqa: PLC0415
    from tests.api import Api, unique  # noqa: PLC0415

    api = Api(client, writer_key)
    payer, payee = unique("console-payer"), unique("console-review")
    api.deposit(payer, "50.00")
    with unit_of_work() as session:
        alerts.open_alert(session, dedup_key=f"console-test:{payee}", kind=AlertKind.AML_CHECK,
                          party=payee, level="high", details={})
    command_id = str(uuid.uuid4())
    deadline = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    api.accepted("/v1/settlement/commands", {
        "command_id": command_id, "type": "COLLATERAL_TRANSFER", "workflow_id": "wf-console",
        "account_ref": "acc", "payer": payer, "payee": payee, "asset": "USD",
        "amount": "10.00", "deadline": deadline})

    def held() -> bool:
        with unit_of_work() as session:
            command = session.get(Command, command_id)
            return command is not None and command.reason == "compliance_review"

    wait_for(held, timeout=30, what="the command held for review")
    return command_id


def quarantined_task(command_id: str) -> str:
    """A dead letter of a task that kept killing its worker (maintenance.noop, harmless)."""
    from app.persistence.db import unit_of_work  # noqa: PLC0415
    from app.services import dead_letters  # noqa: PLC0415

    with unit_of_work() as session:
        letter = dead_letters.quarantine_task(
            session, queue="settlement", task_id=f"console-{uuid.uuid4().hex[:10]}",
            task_name="maintenance.noop", args=[], kwargs={"command_id": command_id},
            deliveries=5)
        return letter.id


def task_body(command_id: str, name: str = "maintenance.noop") -> str:
    return json.dumps({"name": name, "args": [], "kwargs": {"command_id": command_id}})


def planned_reconciliation() -> str:
    """A reconciliation run planned but never sent: it stays running until its checks run."""
    from app.persistence.db import unit_of_work  # noqa: PLC0415
    from app.services import reconciliation  # noqa: PLC0415

    with unit_of_work() as session:
        return reconciliation.start_run(session, trigger="api", now=datetime.now(UTC)).run_id


def run_one_check(run_id: str, name: str) -> None:
    from app.persistence.db import unit_of_work  # noqa: PLC0415
    from app.services import reconciliation  # noqa: PLC0415

    with unit_of_work() as session:
        reconciliation.run_check(session, run_id, name, datetime.now(UTC))


def cancel_if_running(run_id: str) -> None:
    """A planned run left running would count in every later test's batch figures."""
    from app.domain.errors import Conflict  # noqa: PLC0415
    from app.persistence.db import unit_of_work  # noqa: PLC0415
    from app.services import batches  # noqa: PLC0415

    try:
        with unit_of_work() as session:
            batches.cancel_batch(session, f"reconciliation:{run_id}", datetime.now(UTC))
    except Conflict:
        pass  # finished or cancelled already
