"""Chaos under load: the whole system on servers of its own, thousands of commands through the
API, and while they flow: SIGKILL a worker pool process, the worker's main process, the outbox
relay and the bridge; restart Redis and PostgreSQL (an immediate shutdown, as a crash).

Afterwards every accepted command (answered 202) is terminal exactly once, with exactly its
transfers and one outcome event, the ledger sums to zero per asset with no overdraft, every
outcome reached Pub/Sub, and the API never answered 500 (503 with Retry-After while a server
is down is the contract). The figures are printed (`pytest -s`).

CHAOS_COMMANDS sets the least load (default 2,000, offered at RATE commands/s); on a slow
machine the load goes on until the last fault is in, so every fault happens under load.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from tests.pubsub_fixtures import Observer
from tests.support import (
    QUEUES,
    ROOT,
    ManagedProcess,
    Worker,
    create_test_database,
    devstack,
    wait_for,
)

# The waits below (faults, drain, Pub/Sub) add up to more than the suite's per-test timeout.
pytestmark = [pytest.mark.fault, pytest.mark.slow, pytest.mark.timeout(900)]

COMMANDS = int(os.environ.get("CHAOS_COMMANDS", "2000"))
RATE = 80.0  # commands/s offered in all: the load outlasts the faults
ACCOUNTS = 40
LOAD_THREADS = 4
PAUSE = 3.0  # seconds of load between two faults


@dataclass
class Stack:
    """Every process of the system on a PostgreSQL and a Redis that only this test restarts."""

    env: dict[str, str]
    servers: Path
    logs: Path
    base: str
    key: str
    engine: Engine
    processes: dict[str, ManagedProcess] = field(default_factory=dict)

    def start(self, name: str) -> ManagedProcess:
        py, log = sys.executable, self.logs / f"{name}.log"
        if name == "worker":
            process: ManagedProcess = Worker(self.env, log, queues=QUEUES, name="chaos")
        elif name == "beat":
            process = ManagedProcess(
                [py, "-m", "celery", "-A", "tasks", "--quiet", "beat", "-l", "INFO",
                 "-s", str(self.logs / "celerybeat-schedule")], self.env, log,
                ready_marker=b"beat: Starting", name="beat")
        elif name == "api":
            port = self.base.rsplit(":", 1)[1]
            process = ManagedProcess(
                [py, "-m", "gunicorn", "--config", "python:web.gunicorn_conf", "--bind",
                 f"127.0.0.1:{port}", "--workers", "2", "--no-control-socket",
                 "web.wsgi:app"], self.env, log, ready_marker=b"Booting worker", name="api")
        elif name == "bridge":
            process = ManagedProcess([py, "-m", "bridges"], self.env, log,
                                     ready_marker=b"bridge.started", name="bridge")
        else:
            process = ManagedProcess([py, "-m", "bridges", "outbox"], self.env, log,
                                     ready_marker=b"outbox_relay.started", name="relay")
        self.processes[name] = process.start(timeout=120)
        return process

    def kill(self, name: str) -> None:
        self.processes[name].kill()

    def alive(self, name: str) -> bool:
        process = self.processes[name].process
        return process is not None and process.poll() is None

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()


@pytest.fixture(scope="module")
def stack(pubsub_emulator: dict[str, str], service_env: dict[str, str],
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from app.config import get_settings  # noqa: PLC0415
    from bridges.provision import init_pubsub  # noqa: PLC0415

    servers = tmp_path_factory.mktemp("chaos-servers")
    logs = tmp_path_factory.mktemp("chaos-logs")
    # Durable, as `make run` runs them: the suite's own servers trade that for speed.
    database = create_test_database(devstack.ensure_postgres(servers, fast_unsafe=False))
    broker = devstack.ensure_redis(servers, fast_unsafe=False)
    project = f"fusion-chaos-{uuid.uuid4().hex[:8]}"
    init_pubsub(get_settings().model_copy(update={"pubsub_project_id": project}))
    env = {**service_env, **pubsub_emulator, "DATABASE_URL": database,
           "CELERY_BROKER_URL": broker, "CELERY_RESULT_BACKEND": broker.rsplit("/", 1)[0] + "/1",
           "PUBSUB_PROJECT_ID": project, "LOG_JSON": "true",
           "BRIDGE_METRICS_PORT": str(devstack.free_port()),
           "OUTBOX_METRICS_PORT": str(devstack.free_port())}
    subprocess.run([sys.executable, "-c", "from cli.main import cli; cli()", "db", "upgrade"],
                   cwd=ROOT, env={**os.environ, **env}, check=True, capture_output=True,
                   timeout=300)
    engine = create_engine(database, pool_pre_ping=True)
    key = _api_key(engine)
    running = Stack(env, servers, logs, f"http://127.0.0.1:{devstack.free_port()}", key, engine)
    try:
        for name in ("worker", "beat", "api", "bridge", "relay"):
            running.start(name)
        wait_for(lambda: _ready(running.base), timeout=60, interval=0.2, what="API ready")
        yield running
    finally:
        for process in reversed(running.processes.values()):
            process.stop()
        engine.dispose()
        devstack.stop_all(servers, purge=True)


def _api_key(engine: Engine) -> str:
    from sqlalchemy.orm import sessionmaker  # noqa: PLC0415

    from app.services.apikeys import create_api_key  # noqa: PLC0415

    with sessionmaker(bind=engine, expire_on_commit=False).begin() as session:
        return create_api_key(session, name="chaos",
                              scopes=["settlement:write", "settlement:read"])


def _ready(base: str) -> bool:
    try:
        return requests.get(base + "/readyz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


@dataclass
class Load:
    """Clients posting commands as a careful client does: a 503 or a dropped connection is
    tried again later with the same command id (its idempotency key), until it is answered."""

    stack: Stack
    accounts: list[str]
    phase: str = "baseline"
    faults_done: threading.Event = field(default_factory=threading.Event)
    submitted: int = 0
    accepted: list[str] = field(default_factory=list)
    refused: list[tuple[str, int, str]] = field(default_factory=list)
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    server_errors: list[tuple[str, int, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, count: int, seed: int) -> None:
        rng, http = random.Random(seed), requests.Session()
        interval, due, sent = LOAD_THREADS / RATE, time.monotonic(), 0
        while sent < count or not self.faults_done.is_set():
            sent += 1
            due += interval
            time.sleep(max(0.0, due - time.monotonic()))
            payer, payee = rng.sample(self.accounts, 2)
            body = {"command_id": str(uuid.uuid4()), "type": "COLLATERAL_TRANSFER",
                    "workflow_id": "chaos", "account_ref": "chaos", "payer": payer,
                    "payee": payee, "asset": "USD",
                    "amount": f"{rng.randint(1, 4000) / 100:.2f}",
                    "deadline": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}
            self._submit(http, body)

    def _submit(self, http: requests.Session, body: dict[str, Any]) -> None:
        with self.lock:
            self.submitted += 1
        headers = {"Authorization": f"Bearer {self.stack.key}"}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            phase = self.phase
            try:
                response = http.post(self.stack.base + "/v1/settlement/commands", json=body,
                                     headers=headers, timeout=15)
            except requests.RequestException as exc:
                self._count(phase, 0)
                if "Connection" not in type(exc).__name__ and "Timeout" not in type(exc).__name__:
                    raise
                time.sleep(0.2)
                continue
            self._count(phase, response.status_code)
            if response.status_code in (200, 201, 202):
                with self.lock:
                    self.accepted.append(body["command_id"])
                return
            if response.status_code == 503:
                assert response.headers.get("Retry-After"), "a 503 says when to come back"
                time.sleep(0.2)
                continue
            with self.lock:
                if response.status_code >= 500:
                    self.server_errors.append((phase, response.status_code, response.text[:300]))
                else:
                    self.refused.append((phase, response.status_code, response.text[:300]))
            return
        raise AssertionError(f"command {body['command_id']} never answered within 120 s")

    def _count(self, phase: str, status: int) -> None:
        with self.lock:
            self.statuses[(phase, status)] += 1


def _fund(stack: Stack, accounts: list[str]) -> None:
    headers = {"Authorization": f"Bearer {stack.key}"}
    for account in accounts:
        response = requests.post(stack.base + "/v1/ledger/deposits", headers=headers, timeout=15,
                                 json={"account_id": account, "asset": "USD",
                                       "amount": "500.00"})
        assert response.status_code == 202, response.text
    wait_for(lambda: stack.scalar(
        "SELECT count(*) FROM commands WHERE type = 'DEPOSIT' AND status = 'settled'")
        == len(accounts), timeout=60, what="deposits settled")


def _kill_a_pool_process(stack: Stack) -> None:
    main = stack.processes["worker"].process
    assert main is not None
    children = subprocess.run(["pgrep", "-P", str(main.pid)], capture_output=True, text=True,
                              check=False).stdout.split()
    assert children, "the worker has no pool processes"
    os.kill(int(children[0]), signal.SIGKILL)


def _restart_redis(stack: Stack) -> None:
    devstack.restart_redis(stack.servers, fast_unsafe=False)


def _restart_postgres(stack: Stack) -> None:
    devstack.restart_postgres(stack.servers, mode="immediate")


def test_chaos_under_load_loses_and_doubles_nothing(stack: Stack) -> None:
    results = Observer("settlement.results.v1", project=stack.env["PUBSUB_PROJECT_ID"])
    accounts = [f"chaos-{uuid.uuid4().hex[:6]}-{i}" for i in range(ACCOUNTS)]
    _fund(stack, accounts)
    load = Load(stack, accounts)
    per_thread = COMMANDS // LOAD_THREADS
    threads = [threading.Thread(target=load.run, args=(per_thread, seed), daemon=True)
               for seed in range(LOAD_THREADS)]
    started = time.monotonic()
    for thread in threads:
        thread.start()

    faults: list[tuple[str, Any]] = [
        ("worker_pool_kill", _kill_a_pool_process),
        ("worker_kill", lambda s: (s.kill("worker"), s.start("worker"))),
        ("relay_kill", lambda s: (s.kill("relay"), s.start("relay"))),
        ("bridge_kill", lambda s: (s.kill("bridge"), s.start("bridge"))),
        ("redis_restart", _restart_redis),
        ("postgres_restart", _restart_postgres),
    ]
    time.sleep(PAUSE)
    try:
        for name, fault in faults:
            load.phase = name
            fault(stack)
            time.sleep(PAUSE)
            for process in ("worker", "beat", "api", "bridge", "relay"):
                assert stack.alive(process), f"{process} died after {name}; see {stack.logs}"
    finally:
        load.faults_done.set()  # the load stops after its share, whatever happened
    last_fault = time.monotonic()
    injected = load.phase
    load.phase = "after_faults"
    for thread in threads:
        thread.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "the load did not finish"
    accepted = list(dict.fromkeys(load.accepted))

    def settled_or_failed() -> bool:
        return stack.scalar(
            "SELECT count(*) FROM commands WHERE command_id = ANY(:ids) "
            "AND status IN ('settled', 'failed')", ids=accepted) == len(accepted)

    wait_for(settled_or_failed, timeout=240, interval=0.5, what="every accepted command terminal")
    drain_seconds = time.monotonic() - last_fault

    with stack.engine.connect() as conn:
        statuses = dict(conn.execute(text(
            "SELECT status, count(*) FROM commands WHERE command_id = ANY(:ids) "
            "GROUP BY status"), {"ids": accepted}).all())
        transfers = dict(conn.execute(text(
            "SELECT c.command_id, count(t.transfer_id) FROM commands AS c "
            "LEFT JOIN ledger_transfers AS t ON t.transfer_id LIKE c.command_id || ':%' "
            "WHERE c.command_id = ANY(:ids) AND c.status = 'settled' GROUP BY c.command_id"),
            {"ids": accepted}).all())
        outcomes = conn.execute(text(
            "SELECT id, aggregate_id FROM outbox WHERE aggregate_id = ANY(:ids) "
            "AND event_type IN ('command.settled', 'command.failed')"), {"ids": accepted}).all()
        sums = conn.execute(text(
            "SELECT asset, sum(credits_posted - debits_posted) FROM ledger_balances "
            "GROUP BY asset")).all()
        overdrawn = conn.execute(text(
            "SELECT count(*) FROM ledger_balances WHERE no_overdraft "
            "AND credits_posted - debits_posted - debits_pending < 0")).scalar()
    per_command = Counter(aggregate for _, aggregate in outcomes)
    doubled = [c for c, n in per_command.items() if n > 1]
    event_ids = [str(event_id) for event_id, _ in outcomes]
    try:
        published = results.wait_for_events(event_ids, timeout=120)
    finally:
        results.close()
    published_ids = {m.attributes["ce-id"] for m in published}

    api_errors = Counter(phase for phase, status in load.statuses if status >= 500)
    print(f"\nchaos: {load.submitted} commands in {time.monotonic() - started:.0f} s, faults up to "
          f"{injected}; accepted {len(accepted)}, settled {statuses.get('settled', 0)}, "
          f"failed {statuses.get('failed', 0)}, stuck {len(accepted) - sum(statuses.values())}"
          f", doubled {len(doubled)}; drain {drain_seconds:.1f} s after the last fault; "
          f"outcomes on Pub/Sub {len(published_ids)}")
    print("chaos: API answers per phase " + ", ".join(
        f"{phase}:{status}={n}" for (phase, status), n in sorted(load.statuses.items())))
    print(f"chaos: API 5xx per phase {dict(api_errors)}; refused {load.refused[:3]}")

    assert not load.server_errors, load.server_errors[:5]
    assert not load.refused, load.refused[:5]
    assert injected == faults[-1][0]
    assert len(accepted) == load.submitted
    assert sum(statuses.values()) == len(accepted), "accepted commands are missing"
    assert set(statuses) <= {"settled", "failed"}
    assert all(n == 1 for n in transfers.values()), [c for c, n in transfers.items() if n != 1]
    assert len(transfers) == statuses.get("settled", 0)
    assert not doubled and len(per_command) == len(accepted)
    assert all(total == Decimal(0) for _, total in sums), sums
    assert overdrawn == 0
    assert published_ids == set(event_ids)
