"""Servers restart under a running fleet, on servers of this test's own (the session's shared
ones stay up): a Celery worker survives a Redis restart while it holds unacked messages, the
commands a broker outage kept from the broker run within seconds of its return, and an
immediate PostgreSQL restart while commands flow loses none of the 202'd ones and answers no
500. No beat runs here: the fleet's own retries and its reconnect sweep must do it."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests
from sqlalchemy import text

from tests.conftest import TEST_ENV
from tests.private_stack import Api, PrivateStack, settlement_body
from tests.support import Worker, wait_for

pytestmark = pytest.mark.fault

ACCOUNTS = 6
FUNDING = Decimal("1000.00")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateStack]:
    running = PrivateStack(tmp_path_factory.mktemp("restart-stack"), dict(TEST_ENV)).start()
    yield running
    running.close()


@pytest.fixture(scope="module")
def api(stack: PrivateStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    server = Api(stack.env, tmp_path_factory.mktemp("restart-api") / "api.log")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def worker(stack: PrivateStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    log = tmp_path_factory.mktemp("restart-worker") / "worker.log"
    running = Worker(stack.env, log, queues="settlement", concurrency=2).start()
    yield running
    running.stop()


class Client:
    def __init__(self, api: Api, key: str) -> None:
        self.base, self.headers = api.base, {"Authorization": f"Bearer {key}"}

    def post(self, path: str, body: dict[str, Any]) -> requests.Response:
        return requests.post(self.base + path, json=body, headers=self.headers, timeout=30)


@pytest.fixture(scope="module")
def client(stack: PrivateStack, api: Api) -> Client:
    return Client(api, stack.api_key(["settlement:write", "settlement:read"]))


@pytest.fixture(scope="module")
def accounts(stack: PrivateStack, client: Client, worker: Worker) -> list[str]:
    names = [f"restart-{uuid.uuid4().hex[:6]}-{n}" for n in range(ACCOUNTS)]
    ids = []
    for name in names:
        response = client.post("/v1/ledger/deposits", {"account_id": name, "asset": "USD",
                                                        "amount": str(FUNDING)})
        assert response.status_code == 202, response.text
        ids.append(response.json()["command_id"])
    wait_for(lambda: _terminal(stack, ids) == len(ids), timeout=60, what="deposits settled")
    return names


def _terminal(stack: PrivateStack, ids: list[str]) -> int:
    return int(stack.scalar("SELECT count(*) FROM commands WHERE command_id = ANY(:ids) "
                            "AND status IN ('settled', 'failed')", ids=ids))


def _submit(client: Client, accounts: list[str], rng: random.Random) -> requests.Response:
    payer, payee = rng.sample(accounts, 2)
    return client.post("/v1/settlement/commands", settlement_body(
        str(uuid.uuid4()), payer, payee, f"{rng.randint(1, 500) / 100:.2f}"))


def _assert_exactly_once(stack: PrivateStack, ids: list[str], accounts: list[str]) -> None:
    """Every command terminal with one outcome event, and every balance what the settled
    commands make it (a transfer applied twice would move one)."""
    engine = stack.engine()
    try:
        with engine.connect() as conn:
            statuses = dict(conn.execute(text(
                "SELECT status, count(*) FROM commands WHERE command_id = ANY(:ids) "
                "GROUP BY status"), {"ids": ids}).all())
            assert sum(statuses.values()) == len(ids) and set(statuses) <= {"settled", "failed"}
            outcomes = dict(conn.execute(text(
                "SELECT aggregate_id, count(*) FROM outbox WHERE aggregate_id = ANY(:ids) "
                "AND event_type IN ('command.settled', 'command.failed') GROUP BY aggregate_id"),
                {"ids": ids}).all())
            assert len(outcomes) == len(ids) and set(outcomes.values()) == {1}
            expected = dict.fromkeys(accounts, FUNDING)
            for payer, payee, amount in conn.execute(text(
                    "SELECT payer, payee, amount FROM commands WHERE status = 'settled' "
                    "AND type = 'COLLATERAL_TRANSFER' AND payer = ANY(:a)"), {"a": accounts}):
                expected[payer] -= amount
                expected[payee] += amount
            actual = dict(conn.execute(text(
                "SELECT account_id, credits_posted - debits_posted FROM ledger_balances "
                "WHERE account_id = ANY(:a) AND asset = 'USD'"), {"a": accounts}).all())
            assert actual == expected
    finally:
        engine.dispose()


def test_commands_kept_from_a_stopped_broker_run_within_seconds_of_its_return(
        stack: PrivateStack, client: Client, accounts: list[str], worker: Worker) -> None:
    rng = random.Random(13)
    stack.stop_redis()
    try:
        held = [_submit(client, accounts, rng) for _ in range(20)]
    finally:
        stack.start_redis()
    back = time.monotonic()
    assert {r.status_code for r in held} == {202}, [r.text for r in held][:3]
    ids = [r.json()["command_id"] for r in held]
    # The beat sweeper would take COMMAND_SWEEP_AFTER_SECONDS and there is none here: the
    # worker's reconnect sweep sends them.
    wait_for(lambda: _terminal(stack, ids) == len(ids), timeout=30, interval=0.2,
             what="the held commands terminal after the broker's return")
    print(f"\nheld commands all terminal {time.monotonic() - back:.1f}s after Redis came back")
    assert worker.process is not None and worker.process.poll() is None
    _assert_exactly_once(stack, ids, accounts)


def test_a_worker_survives_a_redis_restart_holding_unacked_messages(
        stack: PrivateStack, client: Client, accounts: list[str], worker: Worker) -> None:
    from app.config import Settings  # noqa: PLC0415
    from tasks.celery_app import create_celery_app  # noqa: PLC0415

    # The stack's own app: the process environment names the session's shared broker.
    producer = create_celery_app(Settings(
        celery_broker_url=stack.env["CELERY_BROKER_URL"],
        celery_result_backend=stack.env["CELERY_RESULT_BACKEND"]))
    rng = random.Random(17)
    try:
        # Two slow tasks hold both pool processes (and their messages unacked); commands queue.
        for _ in range(2):
            producer.send_task("maintenance.sleep", kwargs={"seconds": 12}, queue="settlement")
        wait_for(lambda: stack_redis(stack).hlen("unacked") >= 2, timeout=10, interval=0.1,
                 what="the worker holding unacked messages")
        before = [_submit(client, accounts, rng) for _ in range(30)]
        assert stack_redis(stack).hlen("unacked") >= 2, "the slow tasks ended too soon"
        stack.stop_redis()
        stack.start_redis()
        after = [_submit(client, accounts, rng) for _ in range(30)]
    finally:
        producer.close()
    ids = [r.json()["command_id"] for r in before + after if r.status_code == 202]
    assert len(ids) == 60
    wait_for(lambda: _terminal(stack, ids) == len(ids), timeout=60, interval=0.2,
             what="every command terminal after the Redis restart")
    assert worker.process is not None and worker.process.poll() is None, "the worker died"
    assert b"Unrecoverable error" not in worker.log_path.read_bytes()
    _assert_exactly_once(stack, ids, accounts)


def stack_redis(stack: PrivateStack) -> Any:
    import redis  # noqa: PLC0415

    return redis.Redis.from_url(stack.env["CELERY_BROKER_URL"])


def test_an_immediate_postgres_restart_while_commands_flow(
        stack: PrivateStack, client: Client, accounts: list[str], worker: Worker) -> None:
    rng = random.Random(19)
    statuses: Counter[int] = Counter()
    accepted: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()

    def load(seed: int) -> None:
        local = random.Random(seed)
        while not stop.is_set():
            response = _submit(client, accounts, local)
            with lock:
                statuses[response.status_code] += 1
                if response.status_code == 202:
                    accepted.append(response.json()["command_id"])

    threads = [threading.Thread(target=load, args=(rng.random(),)) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: len(accepted) >= 50, timeout=30, what="commands flowing")
        stack.crash_postgres()  # pg_ctl restart -m immediate
        crashed_at = len(accepted)
        wait_for(lambda: len(accepted) >= crashed_at + 50, timeout=60,
                 what="commands accepted again after the restart")
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    print(f"\nAPI answers around the PostgreSQL restart: {dict(statuses)}")
    assert set(statuses) <= {202, 503}, dict(statuses)
    # Each 202 was committed before it was answered; a crash must not take it back.
    known = int(stack.scalar("SELECT count(*) FROM commands WHERE command_id = ANY(:ids)",
                             ids=accepted))
    assert known == len(accepted), f"{len(accepted) - known} accepted commands were lost"
    wait_for(lambda: _terminal(stack, accepted) == len(accepted), timeout=120, interval=0.5,
             what="every accepted command terminal after the restart")
    assert worker.process is not None and worker.process.poll() is None
    _assert_exactly_once(stack, accepted, accounts)


