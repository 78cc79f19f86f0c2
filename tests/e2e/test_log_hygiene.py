"""Grep the logs of a full run: every process (API under gunicorn, worker, beat, bridge, outbox
relay, Flower) writes only JSON lines with timestamp, level and service; no line holds a secret
(API key, pepper, PII key, SMTP password, metrics token, Flower's password) or the customer's
personal data; task lines carry their task and command ids, bridge lines their message id."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session, sessionmaker

from tests.e2e.bridge_fixtures import fresh_project, publish, start_bridge, start_relay
from tests.messages import address, deployed, encode
from tests.support import (
    ROOT,
    ManagedProcess,
    Worker,
    create_test_database,
    devstack,
    drop_test_database,
    wait_for,
)

pytestmark = pytest.mark.e2e

PERSON = {"full_name": "Marguerite Okonkwo-Lindqvist", "date_of_birth": "1971-03-14",
          "nationality": "SE", "country_of_residence": "FR",
          "address": "12 Rue Imaginaire, 69001 Lyon", "document_number": "XK9876543",
          "email": "m.okonkwo.lindqvist@example.net", "phone": "+46701234567"}
COMMAND_TASKS = {"settlement.create_escrow", "settlement.process_command"}
VERIFICATION = {"photo_quality": "high", "email_verified": True}
SERVICES = {"api.log": "api", "worker.log": "worker", "beat.log": "beat",
            "bridge.log": "bridge", "relay.log": "outbox-relay", "flower.log": "flower"}


@dataclass
class Run:
    logs: Path
    secrets: dict[str, str]
    keys: list[str]
    base: str
    sessions: sessionmaker[Session]
    project: str


def _secrets() -> dict[str, str]:
    return {
        "API_KEY_PEPPER": f"pepper-{uuid.uuid4().hex}",
        "PII_ENCRYPTION_KEY": base64.b64encode(uuid.uuid4().bytes * 2).decode(),
        "SMTP_USERNAME": "alerts-bot",
        "SMTP_PASSWORD": f"smtp-{uuid.uuid4().hex}",
        "METRICS_TOKEN": f"scrape-{uuid.uuid4().hex}",
        "FLOWER_BASIC_AUTH": f"ops:flower-{uuid.uuid4().hex}",
    }


@pytest.fixture(scope="module")
def run(service_env: dict[str, str], pubsub_emulator: dict[str, str],
        pubsub_topology: list[str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """Every process of the system, with known secrets, on a broker database and a PostgreSQL
    database of their own: the session's worker, which knows none of these secrets, takes none
    of their tasks, and the session's later tests never meet data sealed under their PII key."""
    from app.services.apikeys import create_api_key  # noqa: PLC0415

    logs = tmp_path_factory.mktemp("hygiene-logs")
    secrets = _secrets()
    database = create_test_database(service_env["DATABASE_URL"])
    server = service_env["CELERY_BROKER_URL"].rsplit("/", 1)[0]
    for db in (4, 5):
        redis.Redis.from_url(f"{server}/{db}").flushdb()
    port = devstack.free_port()
    env = {**service_env, **pubsub_emulator, **secrets, "LOG_JSON": "true",
           "DATABASE_URL": database,
           # Topics of its own too: no other test's bridge may take (and store elsewhere) the
           # messages this run publishes.
           "PUBSUB_PROJECT_ID": fresh_project("fusion-hygiene"),
           "CELERY_BROKER_URL": f"{server}/4", "CELERY_RESULT_BACKEND": f"{server}/5",
           "BRIDGE_METRICS_PORT": str(devstack.free_port()),
           "OUTBOX_METRICS_PORT": str(devstack.free_port())}
    py = sys.executable
    subprocess.run([py, "-c", "from cli.main import cli; cli()", "db", "upgrade"], cwd=ROOT,
                   env=env, check=True, capture_output=True, timeout=300)
    engine = create_engine(database)
    sessions = sessionmaker(bind=engine, expire_on_commit=False)
    with sessions.begin() as session:
        keys = [create_api_key(session, name="hygiene", pepper=secrets["API_KEY_PEPPER"],
                               scopes=["settlement:write", "settlement:read",
                                       "compliance:write", "compliance:read", "admin"])]
    processes: list[ManagedProcess] = []
    try:
        processes.append(Worker(env, logs / "worker.log").start())
        processes.append(ManagedProcess(
            [py, "-m", "celery", "-A", "tasks", "--quiet", "beat", "-l", "INFO",
             "-s", str(logs / "celerybeat-schedule")], env, logs / "beat.log",
            ready_marker=b"beat: Starting", name="beat").start())
        processes.append(ManagedProcess(
            [py, "-m", "gunicorn", "--config", "python:web.gunicorn_conf", "--bind",
             f"127.0.0.1:{port}", "--workers", "2", "--no-control-socket",
             "--access-logfile", "-", "web.wsgi:app"], env, logs / "api.log",
            ready_marker=b"Booting worker", name="api").start())
        processes.append(ManagedProcess(
            [py, "-m", "celery", "-A", "tasks", "flower", "--conf=tasks/flowerconfig.py",
             f"--port={devstack.free_port()}", "--address=127.0.0.1"], env, logs / "flower.log",
            ready_marker=b"Visit me at", name="flower").start())
        processes.append(start_bridge(env, logs / "bridge.log"))
        processes.append(start_relay(env, logs / "relay.log"))
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: _ready(base), timeout=30, interval=0.2, what="API ready")
        yield Run(logs, secrets, keys, base, sessions, env["PUBSUB_PROJECT_ID"])
    finally:
        for process in reversed(processes):
            process.stop()
        engine.dispose()
        drop_test_database(database)


def _ready(base: str) -> bool:
    try:
        return requests.get(base + "/readyz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _flow(run: Run) -> None:
    """Settlement, KYC with personal data, a screening, refusals, the bridge both ways."""
    from app.persistence.models import DeadLetter, EscrowRecord, OutboxEvent  # noqa: PLC0415

    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {run.keys[0]}"
    base = run.base

    def settled(accepted: dict[str, Any]) -> None:
        path = f"{base}/v1/settlement/commands/{accepted['command_id']}"
        wait_for(lambda: http.get(path).json()["status"] == "settled", timeout=30,
                 what="command settled")

    payer, payee = f"hyg-{uuid.uuid4().hex[:8]}", f"hyg-{uuid.uuid4().hex[:8]}"
    deposit = http.post(f"{base}/v1/ledger/deposits",
                        json={"account_id": payer, "asset": "USD", "amount": "100.00"})
    assert deposit.status_code == 202, deposit.text
    settled(deposit.json())
    escrow = http.post(f"{base}/v1/escrows", json={
        "payer": payer, "payee": payee, "amount": "25.00", "asset": "USD",
        "release_delay_seconds": 0, "approvals_required": 1})
    assert escrow.status_code == 202, escrow.text
    settled(escrow.json())

    case = http.post(f"{base}/v1/compliance/kyc-cases", json={
        "party": payer, "document_type": "passport", "personal_data": PERSON,
        "verification": VERIFICATION})
    assert case.status_code == 201, case.text
    case_id = case.json()["case_id"]
    revealed = http.get(f"{base}/v1/compliance/kyc-cases/{case_id}?reveal=personal_data")
    assert revealed.json()["personal_data"]["email"] == PERSON["email"]
    for to in ("in_review", "approved"):
        moved = http.post(f"{base}/v1/compliance/kyc-cases/{case_id}/transitions",
                          json={"to": to, "reason": "documents checked", "reviewer": "ops"})
        assert moved.status_code == 200, moved.text
    refused = http.post(f"{base}/v1/compliance/kyc-cases", json={
        "party": payee, "document_type": "passport",
        "personal_data": {**PERSON, "mother_maiden_name": PERSON["full_name"]},
        "verification": VERIFICATION})
    assert refused.status_code == 422 and PERSON["email"] not in refused.text
    screening = http.post(f"{base}/v1/compliance/screenings",
                          json={"party": payee, "names": [PERSON["full_name"]]})
    assert screening.status_code == 202, screening.text
    status_url = base + screening.json()["status_url"]
    wait_for(lambda: http.get(status_url).json().get("status") not in ("pending", None),
             timeout=30, what="screening done")
    wrong = requests.get(f"{base}/v1/escrows/x", timeout=5,
                         headers={"Authorization": f"Bearer {run.keys[0][:-4]}AAAA"})
    assert wrong.status_code == 401
    scrape = requests.get(f"{base}/metrics", timeout=10,
                          headers={"Authorization": f"Bearer {run.secrets['METRICS_TOKEN']}"})
    assert scrape.status_code == 200 and "fusion_tasks_total" in scrape.text

    contract = address()
    publish("settlement.events.v1",
            [encode("EscrowDeployed", deployed(contract, address(), address()), "cloudevents"),
             (json.dumps({"email": PERSON["email"]}).encode() + b"{", {"event_type": "x"})],
            project=run.project)

    def bridged() -> bool:
        with run.sessions() as session:
            escrow_row = session.scalars(select(EscrowRecord).where(
                EscrowRecord.contract_address == contract)).first()
            letter = session.scalars(select(DeadLetter).where(
                DeadLetter.data.contains(PERSON["email"].encode()))).first()
            return escrow_row is not None and letter is not None

    wait_for(bridged, timeout=60, what="the bridge relayed and dead-lettered")

    def published() -> bool:
        with run.sessions() as session:
            rows = session.scalars(select(OutboxEvent).where(
                OutboxEvent.event_type == "kyc.decided", OutboxEvent.aggregate_id == payer)).all()
            return bool(rows) and all(r.published_at is not None for r in rows)

    wait_for(published, timeout=60, what="the relay published the KYC decision")


def test_every_line_of_every_process_is_clean_json(run: Run) -> None:
    _flow(run)
    forbidden = {**run.secrets, **{f"key{i}": k for i, k in enumerate(run.keys)},
                 # a key is <prefix>_<key id>_<secret>, and the secret may hold "_" itself
                 **{f"key{i}-secret": k.split("_", 2)[2] for i, k in enumerate(run.keys)},
                 **PERSON}
    forbidden.pop("SMTP_USERNAME")
    forbidden["flower password"] = run.secrets["FLOWER_BASIC_AUTH"].split(":", 1)[1]
    for field in ("nationality", "country_of_residence"):
        forbidden.pop(field)  # two-letter codes occur in any text
    lines_by_file: dict[str, list[dict[str, Any]]] = {}
    for name, service in SERVICES.items():
        text = (run.logs / name).read_text(errors="replace")
        records = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                pytest.fail(f"{name}:{number} is not JSON: {line[:200]}")
            assert isinstance(record, dict), f"{name}:{number}"
            assert {"timestamp", "level", "service"} <= record.keys(), f"{name}:{number} {line}"
            assert record["service"] == service, f"{name}:{number} {line}"
            lowered = line.lower()
            for what, value in forbidden.items():
                assert value.lower() not in lowered, f"{name}:{number} leaks {what}: {line}"
            records.append(record)
        assert records, f"{name} is empty"
        lines_by_file[name] = records

    worker = lines_by_file["worker.log"]
    task_lines = [r for r in worker if str(r.get("event", "")).startswith("Task ")]
    assert task_lines, "Celery's own task lines are in the worker log"
    for record in task_lines:
        assert record.get("task_id") and record.get("task_name"), record
        if record["task_name"] in COMMAND_TASKS:  # a command's task id is the command id
            assert record.get("command_id") == record["task_id"], record
        elif "/" in record["task_id"] and not record["event"].endswith("received"):
            assert record.get("message_id"), record  # relayed by the bridge
    assert any(r["task_name"] == "settlement.apply_chain_event" and r.get("message_id")
               for r in task_lines)
    assert any("succeeded" in r["event"] and r["task_name"] == "settlement.create_escrow"
               for r in task_lines)
    assert any(r.get("event") == "worker.starting" for r in worker), "the banner, as JSON"
    bridge = lines_by_file["bridge.log"]
    lettered = [r for r in bridge if r.get("event") == "bridge.dead_lettered"]
    assert lettered and all(r.get("message_id") for r in lettered)
    api = lines_by_file["api.log"]
    assert any(r.get("event") == "http.request" and r.get("status") == 401 for r in api)
