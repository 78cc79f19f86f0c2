"""The API's /metrics after real work: requests by route, task states counted by a real worker,
queue depth, outbox lag, dead letters, margin events; the token; gunicorn's workers summed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from tests.api import Api, unique
from tests.support import ROOT, Worker, devstack, wait_for

pytestmark = pytest.mark.e2e


def scrape(client: FlaskClient) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200, response.data[:300]
    assert response.mimetype == "text/plain"
    return response.get_data(as_text=True)


def samples(text: str, name: str, **labels: str) -> list[float]:
    """Values of the samples called `name` whose labels include `labels`."""
    return [s.value for family in text_string_to_metric_families(text) for s in family.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]


def value(text: str, name: str, **labels: str) -> float:
    return sum(samples(text, name, **labels))


@pytest.fixture
def writer(client: FlaskClient, api_keys: dict[str, str], worker: Worker) -> Api:
    return Api(client, api_keys["writer"])


@pytest.fixture
def risk(client: FlaskClient, api_keys: dict[str, str], worker: Worker) -> Api:
    return Api(client, api_keys["risk"])


def test_requests_by_route_template_and_tasks_by_state(client: FlaskClient, writer: Api) -> None:
    before = scrape(client)
    created = value(before, "fusion_tasks_total", task="settlement.create_escrow",
                    state="succeeded")
    writer.deposit(payer := unique("m-payer"), "100.00")
    accepted = writer.accepted("/v1/escrows", {
        "payer": payer, "payee": unique("m-payee"), "amount": "25.00", "asset": "USD",
        "release_delay_seconds": 0, "approvals_required": 1})
    assert writer.settle(accepted)["status"] == "settled"
    escrow_id = accepted["escrow_id"]
    assert writer.get(f"/v1/escrows/{escrow_id}").status_code == 200
    assert client.get("/no/such/path").status_code == 404

    # Each worker process sends its counts a moment later (tasks/task_metrics.py), the
    # consumer's `received` and the pool process's `started`/`succeeded` each on its own
    # flush; the command can be read first.
    def counted() -> str | None:
        text = scrape(client)
        done = [value(text, "fusion_tasks_total", task="settlement.create_escrow", state=state)
                for state in ("received", "started", "succeeded")]
        return text if min(done) >= created + 1 else None

    text = wait_for(counted, timeout=15, what="the worker's counts in Redis")
    assert value(text, "fusion_tasks_total", task="settlement.process_command",
                 state="succeeded") >= 1  # the deposit
    assert value(text, "fusion_http_requests_total", route="/v1/escrows", method="POST",
                 status="202") >= 1
    assert value(text, "fusion_http_requests_total", route="/v1/escrows/<escrow_id>",
                 method="GET", status="200") >= 1
    assert value(text, "fusion_http_requests_total", route="<unmatched>", status="404") >= 1
    assert value(text, "fusion_http_request_duration_seconds_count",
                 route="/v1/escrows", method="POST") >= 1
    # Route templates, never the ids themselves: bounded series and no identifiers.
    assert escrow_id not in text and payer not in text
    assert value(text, "fusion_metrics_source_up", source="database") == 1
    assert value(text, "fusion_metrics_source_up", source="broker") == 1


def test_outbox_lag_and_dead_letters(client: FlaskClient) -> None:
    from sqlalchemy import text as sql  # noqa: PLC0415

    from app.persistence.db import unit_of_work  # noqa: PLC0415
    from app.services import dead_letters  # noqa: PLC0415

    before = scrape(client)
    pending = value(before, "fusion_dead_letters", reason="malformed_json", state="pending")
    replayed = value(before, "fusion_dead_letters", reason="malformed_json", state="replayed")
    unsent = value(before, "fusion_outbox_unsent")
    with unit_of_work() as session:
        dead_letters.store(session, subscription="settlement-events", message_id="m1",
                           data=b"{not json", attributes={}, reason="malformed_json",
                           detail="Expecting property name")
        second = dead_letters.store(session, subscription="settlement-events", message_id="m2",
                                    data=b"{", attributes={}, reason="malformed_json",
                                    detail="Expecting property name")
        session.flush()
        session.execute(sql("UPDATE dead_letters SET replayed_at = now() WHERE id = :id"),
                        {"id": second.id})
        # Each letter is announced through the outbox; no relay runs here, so the rows wait.
        # Aged rather than waited for: the oldest unsent row is 90 s old.
        session.execute(sql("UPDATE outbox SET created_at = created_at - interval '90 seconds' "
                            "WHERE published_at IS NULL"))
    text = scrape(client)
    assert value(text, "fusion_dead_letters", reason="malformed_json",
                 state="pending") == pending + 1
    assert value(text, "fusion_dead_letters", reason="malformed_json",
                 state="replayed") == replayed + 1
    assert value(text, "fusion_outbox_unsent") >= unsent + 2
    assert value(text, "fusion_outbox_lag_seconds") >= 90


def test_margin_events_by_type(client: FlaskClient, risk: Api) -> None:
    at = datetime.now(UTC)
    stamp = lambda: datetime.now(UTC).isoformat()  # noqa: E731
    calls = value(scrape(client), "fusion_margin_events_total", event_type="margin_call")
    # Positions take known assets only; test_risk_api relies on EUR having no price.
    coin = "GBP"
    assert risk.post("/v1/risk/prices", {"asset_symbol": coin, "price_usd": "200",
                                         "timestamp": at.isoformat(),
                                         "source": "e2e"}).status_code == 201
    account = unique("m-risk")
    put = risk.client.put(f"/v1/risk/accounts/{account}/positions", headers=risk.headers(),
                          json={"positions": [{"asset": coin, "collateral": "10"},
                                              {"asset": "USD", "borrowed": "1000"}]})
    assert put.status_code == 200

    def status_is(expected: str) -> bool:
        response = risk.get(f"/v1/risk/accounts/{account}/margin-health")
        return response.status_code == 200 and response.get_json()["status"] == expected

    wait_for(lambda: status_is("HEALTHY"), timeout=60, what="healthy account")
    assert risk.post("/v1/risk/prices", {"asset_symbol": coin, "price_usd": "120",
                                         "timestamp": stamp(), "source": "e2e"}).status_code == 201
    wait_for(lambda: status_is("MARGIN_CALL"), timeout=60, what="margin call")
    text = scrape(client)
    assert value(text, "fusion_margin_events_total", event_type="margin_call") >= calls + 1
    assert account not in text


def test_batch_progress(client: FlaskClient, risk: Api) -> None:
    from sqlalchemy import delete  # noqa: PLC0415

    from app.persistence.db import unit_of_work  # noqa: PLC0415
    from app.persistence.models import utcnow  # noqa: PLC0415
    from app.persistence.risk_models import RiskBatch  # noqa: PLC0415

    completed = value(scrape(client), "fusion_batches", kind="risk_recompute",
                      status="completed")
    accepted = risk.accepted("/v1/risk/batches", {"scope": "asset", "asset": "EUR"})
    wait_for(lambda: risk.get(accepted["status_url"]).get_json()["status"] == "completed",
             timeout=60, what="batch completed")
    assert value(scrape(client), "fusion_batches", kind="risk_recompute",
                 status="completed") == completed + 1
    # A batch caught mid-run (a real one finishes too fast to scrape while it runs).
    batch_id = unique("m-batch")
    with unit_of_work() as session:
        session.add(RiskBatch(batch_id=batch_id, scope="asset", asset="EUR", trigger="api",
                              status="running", chunk_size=5, total_accounts=10, total_chunks=2,
                              accounts_done=4, accounts_failed=1, started_at=utcnow()))
    try:
        text = scrape(client)
        labels = {"batch_id": batch_id, "kind": "risk_recompute"}
        assert value(text, "fusion_batch_items", **labels) == 10
        assert value(text, "fusion_batch_items_done", **labels) == 4
        assert value(text, "fusion_batch_items_failed", **labels) == 1
        assert value(text, "fusion_batches", kind="risk_recompute", status="running") >= 1
    finally:
        with unit_of_work() as session:
            session.execute(delete(RiskBatch).where(RiskBatch.batch_id == batch_id))
    assert batch_id not in scrape(client), "only running batches have progress series"


def test_queue_depth_sums_priority_lists_of_a_queue_nobody_consumes(
        service_env: dict[str, str]) -> None:
    """A broker database no worker listens on, seeded through Celery's real producer with
    mixed priorities (kombu keeps those in sub-lists of the queue)."""
    from app.config import Settings  # noqa: PLC0415
    from tasks.celery_app import celery_app  # noqa: PLC0415
    from web import create_app  # noqa: PLC0415

    url = service_env["CELERY_BROKER_URL"].rsplit("/", 1)[0] + "/7"
    broker = redis.Redis.from_url(url)
    broker.flushdb()
    with celery_app.connection_for_write(url) as connection:
        for n in range(7):
            celery_app.send_task("batch.never_run", queue="batch", priority=n % 10 * 3 % 10,
                                 connection=connection)
        for _ in range(2):
            celery_app.send_task("alerts.never_run", queue="alerts", connection=connection)
    assert broker.llen("batch") < 7, "the seed must exercise the priority sub-lists"
    app = create_app(Settings(celery_broker_url=url))
    text = scrape(app.test_client())
    assert value(text, "fusion_queue_depth", queue="batch") == 7
    assert value(text, "fusion_queue_depth", queue="alerts") == 2
    assert value(text, "fusion_queue_depth", queue="settlement") == 0
    broker.flushdb()


def test_metrics_token_when_configured(service_env: dict[str, str]) -> None:
    from app.config import Settings  # noqa: PLC0415
    from web import create_app  # noqa: PLC0415

    client = create_app(Settings(metrics_token="s3cret-scrape")).test_client()
    refused = client.get("/metrics")
    assert refused.status_code == 401 and b"fusion_" not in refused.data
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = client.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape"})
    assert ok.status_code == 200 and b"fusion_queue_depth" in ok.data


@pytest.fixture(params=["given-dir", "no-dir"])
def gunicorn(request: pytest.FixtureRequest, service_env: dict[str, str],
             tmp_path: Path) -> Iterator[tuple[str, Path, Path | None]]:
    """gunicorn as make run, compose and k8s start it: with PROMETHEUS_MULTIPROC_DIR given,
    or without it (web.gunicorn_conf then makes one before prometheus_client is imported)."""
    port = devstack.free_port()
    log, metrics_dir = tmp_path / "api.log", tmp_path / "prometheus"
    env = {**os.environ, **service_env}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if request.param == "given-dir":
        metrics_dir.mkdir()
        (metrics_dir / "counter_999999.db").write_bytes(b"stale")  # an earlier run's: wiped
        env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "python:web.gunicorn_conf",
             "--bind", f"127.0.0.1:{port}", "--workers", "3", "--no-control-socket",
             "--access-logfile", "-", "web.wsgi:app"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _get(base + "/healthz") is not None, timeout=30, interval=0.2,
                 what="gunicorn up")
        yield base, log, metrics_dir if request.param == "given-dir" else None
    finally:
        process.terminate()
        process.wait(timeout=30)


def _get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode())
    except OSError:
        return None


def test_gunicorn_workers_requests_are_summed_across_processes(
        gunicorn: tuple[str, Path, Path | None]) -> None:
    base, log, metrics_dir = gunicorn
    probe = f"/healthz?probe={uuid.uuid4().hex}"
    sent = 1  # the readiness probe
    # Concurrent clients until at least two workers have served some (the others may still
    # be importing the app when the first answers); without a known directory, until two
    # workers' answers differ... so instead enough rounds that all three have booted.
    rounds = 0
    with ThreadPoolExecutor(max_workers=6) as pool:
        def spread() -> bool:
            nonlocal sent, rounds
            assert all(r is not None for r in pool.map(lambda _: _get(base + probe), range(60)))
            sent, rounds = sent + 60, rounds + 1
            if metrics_dir is None:
                return rounds >= 5
            return len(list(metrics_dir.glob("counter_*.db"))) >= 2

        wait_for(spread, timeout=30, interval=0.2, what="requests on two workers")
    if metrics_dir is not None:
        assert not (metrics_dir / "counter_999999.db").exists()
    # Each scrape may land on another worker; each sees every request.
    counts = set()
    for _ in range(6):
        text = _get(base + "/metrics")
        assert text is not None
        counts.add(value(text, "fusion_http_requests_total", route="/healthz", status="200"))
    assert counts == {float(sent)}, (counts, sent)
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    assert lines, "gunicorn logged nothing"
    for line in lines:
        record: dict[str, Any] = json.loads(line)
        assert {"timestamp", "level", "service"} <= record.keys(), line
        assert record["service"] == "api"
    events = [json.loads(line).get("event") for line in lines]
    assert "http.access" in events and "http.request" in events
    assert any("Booting worker" in str(e) for e in events), "gunicorn's own lines are JSON too"
    assert all("probe=" not in line for line in lines), "query strings stay out of the logs"
