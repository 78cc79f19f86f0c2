"""The operator console through the Flask test client, on the real database, broker and worker:
sign-in and its cookie, the overview's chart, a held command's reason, a dead letter replayed
with a corrected body, a batch's progress and cancel, scopes, CSRF, sign-out and expiry."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from flask.testing import FlaskClient
from pydantic import SecretStr

from tests.api import Api
from tests.e2e.console_support import (
    Console,
    cancel_if_running,
    held_command,
    planned_reconciliation,
    quarantined_task,
    run_one_check,
    task_body,
)
from tests.support import Worker

pytestmark = pytest.mark.e2e


@pytest.fixture
def console(client: FlaskClient, api_keys: dict[str, str]) -> Console:
    signed_in = Console(client)
    assert signed_in.sign_in(api_keys["admin"]).status_code == 302
    return signed_in


@pytest.fixture
def planned() -> Iterator[Callable[[], str]]:
    """Planned reconciliation runs (they stay running), cancelled after the test."""
    runs: list[str] = []

    def plan() -> str:
        runs.append(planned_reconciliation())
        return runs[-1]

    yield plan
    for run_id in runs:
        cancel_if_running(run_id)


@pytest.fixture(scope="module")
def held(flask_app: object, api_keys: dict[str, str], worker: Worker) -> str:
    from flask import Flask  # noqa: PLC0415

    assert isinstance(flask_app, Flask)
    return held_command(api_keys["writer"], flask_app.test_client())


def test_pages_need_a_sign_in_and_the_cookie_is_strict(client: FlaskClient,
                                                       api_keys: dict[str, str]) -> None:
    response = client.get("/console/overview")
    assert response.status_code == 302 and "/console/sign-in" in response.headers["Location"]
    console = Console(client)
    refused = console.sign_in("fp_nope_nope")
    assert refused.status_code == 401 and "unknown or revoked" in refused.get_data(as_text=True)
    signed_in = console.sign_in(api_keys["reader"])
    assert signed_in.status_code == 302
    cookie = next(c for c in signed_in.headers.getlist("Set-Cookie")
                  if c.startswith("fusion_console="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    # Only the key id is kept, never the key's secret.
    assert api_keys["reader"].split("_", 2)[2] not in cookie
    assert "Overview" in console.page("/console/overview")
    page = client.get("/console/overview")
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store"
    assert "style=" not in page.get_data(as_text=True)  # the CSP allows no inline style


def test_overview_draws_commands_per_status_with_data(console: Console, held: str) -> None:
    from tasks.celery_app import celery_app  # noqa: PLC0415

    # Beat's sampler, run by the worker twice: the queue and outbox lines get two points.
    for _ in range(2):
        sampled = celery_app.send_task("maintenance.sample_ops").get(timeout=30)
        assert sampled["sampled"] is True and sampled["outbox_unsent"] > 0
    page = console.page("/console/overview?window=hour")
    chart = re.search(r'<svg id="commands-chart".*?</svg>', page, re.S)
    assert chart, "no commands chart on the overview"
    svg = chart.group(0)
    assert re.search(r'<rect class="bar" data-series="settled"[^>]*height="[1-9]', svg)
    assert re.search(r'<rect class="bar" data-series="held"', svg)
    assert ">commands<" in svg and "received at (UTC" in svg  # axis units
    assert held in page  # listed among the held commands, with its reason
    assert "compliance_review" in page
    assert 'id="dead-letter-count"' in page
    queues = re.search(r'<svg id="queues-chart".*?</svg>', page, re.S)
    assert queues and ">messages<" in queues.group(0)
    assert {"settlement", "risk", "batch"} <= set(re.findall(r'data-series="(\w+)"',
                                                              queues.group(0)))
    history = re.search(r'<svg id="queue-history-chart".*?</svg>', page, re.S)
    assert history and ">messages<" in history.group(0)
    assert set(re.findall(r'<polyline class="series" data-series="(\w+)" points="[^" ]+ [^"]+"',
                          history.group(0))) >= {"settlement", "risk", "batch"}
    lag = re.search(r'<svg id="outbox-lag-chart".*?</svg>', page, re.S)
    assert lag and 'data-series="outbox lag"' in lag.group(0) and ">seconds<" in lag.group(0)
    # No relay runs in these tests: the held command's acceptance event waits in the outbox.
    unsent = re.search(r'id="outbox-unsent">(\d+)<', page)
    assert unsent and int(unsent.group(1)) > 0
    day = console.page("/console/overview?window=day")
    assert '<svg id="commands-chart"' in day and "1-hour bars" in day


def test_find_a_held_command_and_read_its_story(console: Console, held: str) -> None:
    listing = console.page("/console/commands?status=held")
    assert held in listing
    page = console.page(f"/console/commands/{held}")
    assert 'id="command-status">held<' in page
    reason = re.search(r'id="command-reason"><b>([^<]+)</b>: ([^<]+)<', page)
    assert reason and reason.group(1) == "compliance_review"
    assert "review" in reason.group(2)
    assert "<b>accepted</b>" in page and "command.accepted" in page
    assert "command.settled" not in page and "command.failed" not in page  # no outcome yet


def test_a_settled_commands_story_has_transfers_and_a_published_event(
        console: Console, api_keys: dict[str, str], client: FlaskClient, worker: Worker) -> None:
    from tests.api import unique  # noqa: PLC0415

    deposit = Api(client, api_keys["writer"]).deposit(unique("console-dep"), "12.34")
    page = console.page(f"/console/commands/{deposit['command_id']}")
    assert "<b>settled</b>" in page and f"{deposit['command_id']}:payment" in page
    assert "12.34 USD" in page and "command.settled" in page


def test_replay_a_dead_letter_with_a_corrected_body(console: Console, worker: Worker) -> None:
    from celery.result import AsyncResult  # noqa: PLC0415

    from tasks.celery_app import celery_app  # noqa: PLC0415

    letter_id = quarantined_task("console-broken")
    assert letter_id in console.page("/console/dead-letters")
    path = f"/console/dead-letters/{letter_id}"
    assert "poison_task" in console.page(path)

    # The same rule as the admin API: a replay may correct arguments, not change the task.
    refused = console.post(f"{path}/replay", {"body": task_body("x", name="maintenance.other")},
                           token_from=path)
    assert refused.status_code == 302
    page = console.page(path)
    assert "task_name_changed" in page and "Replayed 0 times" in page

    replayed = console.post(f"{path}/replay", {"body": task_body("console-fixed")},
                            token_from=path)
    assert replayed.status_code == 302
    page = console.page(path)
    task_id = re.search(r"Replayed as task ([^.<]+)\.", page)
    assert task_id and "Replayed 1 times" in page
    result = AsyncResult(task_id.group(1), app=celery_app)
    assert result.get(timeout=30) == {"command_id": "console-fixed", "status": "noop"}
    assert letter_id not in console.page("/console/dead-letters")  # no longer waiting


def _progress(page: str, run_id: str) -> tuple[str, str]:
    row = re.search(rf'<tr id="batch-{run_id}">.*?</tr>', page, re.S)
    assert row, f"batch {run_id} not listed"
    status = re.search(r'class="status (\w+)"', row.group(0))
    value = re.search(r'<progress max="\d+" value="(\d+)"', row.group(0))
    assert status and value
    return status.group(1), value.group(1)


def test_a_batch_progress_bar_moves_and_the_batch_is_cancelled(
        console: Console, planned: Callable[[], str]) -> None:
    run_id = planned()
    page = console.page("/console/batches")
    assert _progress(page, run_id) == ("running", "0")
    assert '<meta http-equiv="refresh"' in page  # a running batch refreshes the page
    run_one_check(run_id, "asset_sums")
    assert _progress(console.page("/console/batches"), run_id) == ("running", "1")
    cancelled = console.post(f"/console/batches/reconciliation:{run_id}/cancel", {},
                             token_from="/console/batches")
    assert cancelled.status_code == 302
    page = console.page("/console/batches")
    assert _progress(page, run_id)[0] == "cancelled" and "cancelled." in page
    again = console.post(f"/console/batches/reconciliation:{run_id}/cancel", {},
                         token_from="/console/batches")
    assert again.status_code == 302 and "already cancelled" in console.page("/console/batches")


def test_a_key_without_admin_scope_does_not_see_admin_pages(
        client: FlaskClient, api_keys: dict[str, str], planned: Callable[[], str]) -> None:
    console = Console(client)
    console.sign_in(api_keys["reader"])
    overview = console.page("/console/overview")
    assert "Dead letters" not in overview and "Batches" not in overview
    assert 'id="dead-letter-count"' not in overview
    assert 'href="/console/commands"' in overview
    for path in ("/console/dead-letters", "/console/batches", "/console/risk",
                 "/console/compliance"):
        assert "needs the scope" in console.page(path, status=403)
    run_id = planned()
    denied = console.post(f"/console/batches/{run_id}/cancel", {},
                          token_from="/console/overview")
    assert denied.status_code == 403


def test_a_post_without_the_csrf_token_is_refused(console: Console,
                                                  planned: Callable[[], str]) -> None:
    run_id = planned()
    path = f"/console/batches/reconciliation:{run_id}/cancel"
    assert console.client.post(path).status_code == 400
    assert console.client.post(path, data={"csrf_token": "forged"}).status_code == 400
    assert _progress(console.page("/console/batches"), run_id)[0] == "running"
    # Sign-out is a state change too.
    assert console.client.post("/console/sign-out").status_code == 400


def test_a_nul_in_a_path_query_or_form_field_is_refused_not_a_500(console: Console) -> None:
    for path in ("/console/commands?party=a%00b", "/console/commands?status=%00",
                 "/console/ledger/acc%00x"):
        assert console.client.get(path).status_code == 422, path


def test_sign_out_revocation_and_expiry_end_the_session(
        flask_app: object, client: FlaskClient, api_keys: dict[str, str]) -> None:
    from app.persistence.db import unit_of_work  # noqa: PLC0415
    from app.services.apikeys import create_api_key, revoke_api_key  # noqa: PLC0415

    console = Console(client)
    console.sign_in(api_keys["reader"])
    assert console.post("/console/sign-out", {}, token_from="/console/overview"
                        ).status_code == 302
    assert client.get("/console/overview").status_code == 302

    with unit_of_work() as session:
        key = create_api_key(session, name=f"console-{uuid.uuid4().hex[:6]}",
                             scopes=["settlement:read"])
    console.sign_in(key)
    assert console.page("/console/overview")
    with unit_of_work() as session:
        assert revoke_api_key(session, key.split("_", 2)[1])
    assert client.get("/console/overview").status_code == 302  # at the next click

    console.sign_in(api_keys["reader"])
    with client.session_transaction() as cookie:
        cookie["issued"] = int(time.time()) - 9 * 3600  # past CONSOLE_SESSION_SECONDS (8 h)
    assert client.get("/console/overview").status_code == 302


def test_ledger_shows_the_zero_sum_check_and_an_account(
        console: Console, api_keys: dict[str, str], client: FlaskClient, worker: Worker) -> None:
    from tests.api import unique  # noqa: PLC0415

    account = unique("console-ledger")
    Api(client, api_keys["writer"]).deposit(account, "7.00")
    page = console.page("/console/ledger")
    assert re.search(r"<td>USD</td>.*?balanced", page, re.S)
    assert "BREAK" not in page
    shown = console.page(f"/console/ledger/{account}")
    assert "7.00" in shown and "external:bank:USD" in shown


def test_risk_and_compliance_pages_render(console: Console) -> None:
    risk = console.page("/console/risk")
    assert '<svg id="bands-chart"' in risk and ">accounts<" in risk
    assert '<svg id="health-chart"' in console.page("/console/risk/nobody-yet")
    assert "KYC cases by status" in console.page("/console/compliance")


def test_production_without_a_console_secret_refuses_sign_in(service_env: dict[str, str],
                                                             api_keys: dict[str, str]) -> None:
    import base64  # noqa: PLC0415

    from app.config import get_settings  # noqa: PLC0415
    from web import create_app  # noqa: PLC0415

    # Production also wants a PII key before the compliance routes register.
    pii = SecretStr(base64.b64encode(b"k" * 32).decode())
    settings = get_settings().model_copy(update={"fusion_env": "production",
                                                 "pii_encryption_key": pii})
    client = create_app(settings).test_client()
    refused = client.get("/console/sign-in")
    assert refused.status_code == 503 and "CONSOLE_SECRET_KEY" in refused.get_data(as_text=True)
    assert client.post("/console/sign-in", data={"api_key": api_keys["admin"]}
                       ).status_code == 503
    secured = settings.model_copy(update={"console_secret_key": SecretStr("s" * 32)})
    signed_in = create_app(secured).test_client()
    console = Console(signed_in)
    response = console.sign_in(api_keys["admin"])
    assert response.status_code == 302
    assert "Secure" in next(c for c in response.headers.getlist("Set-Cookie")
                            if c.startswith("fusion_console="))
