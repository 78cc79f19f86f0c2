"""Where the time goes, measured in-process (no HTTP, no broker wait): SQL statements and wall
time per `POST /v1/escrows` (Flask test client) and per settlement command, split into its
parts, plus an optional cProfile of the request path.

The statement counts come from SQLAlchemy's cursor events; psycopg's implicit BEGIN and the
COMMIT (and the pool's pre-ping, when DATABASE_PRE_PING is on) bypass those events, so only
the pool checkouts are counted beside them.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.common import BenchError


class StatementCounter:
    def __init__(self) -> None:
        self.statements = 0
        self.checkouts = 0
        self.by_kind: dict[str, int] = {}

    def on_execute(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.statements += 1
        kind = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "?"
        self.by_kind[kind] = self.by_kind.get(kind, 0) + 1

    def on_checkout(self, *_: Any) -> None:
        self.checkouts += 1


@contextmanager
def counting() -> Iterator[StatementCounter]:
    from sqlalchemy import event  # noqa: PLC0415

    from app.persistence.db import get_engine  # noqa: PLC0415

    engine = get_engine()
    counter = StatementCounter()
    event.listen(engine, "before_cursor_execute", counter.on_execute)
    event.listen(engine.pool, "checkout", counter.on_checkout)
    try:
        yield counter
    finally:
        event.remove(engine, "before_cursor_execute", counter.on_execute)
        event.remove(engine.pool, "checkout", counter.on_checkout)


def _per_op(counter: StatementCounter, ops: int, seconds: float) -> dict[str, Any]:
    return {"sql_statements": round(counter.statements / ops, 2),
            "pool_checkouts": round(counter.checkouts / ops, 2),
            "by_kind": {k: round(v / ops, 2) for k, v in sorted(counter.by_kind.items())},
            "mean_ms": round(seconds / ops * 1000, 3)}


def _timed(fn: Callable[[], object], ops: int) -> tuple[StatementCounter, float]:
    with counting() as counter:
        started = time.perf_counter()
        for _ in range(ops):
            fn()
        elapsed = time.perf_counter() - started
    return counter, elapsed


def escrow_request(api_key: str, payer: str, ops: int, *, profile_top: int = 0
                   ) -> dict[str, Any]:
    """POST /v1/escrows through the Flask test client: the whole request path minus HTTP."""
    from tasks.celery_app import celery_app, producer_only  # noqa: PLC0415
    from web import create_app  # noqa: PLC0415

    producer_only()  # as web/wsgi.py does in gunicorn
    client = create_app().test_client()
    headers = {"Authorization": f"Bearer {api_key}"}
    body = {"payer": payer, "payee": "bench-diag-payee", "amount": "1.00", "asset": "USD",
            "release_delay_seconds": 3600, "approvals_required": 1}

    def post() -> None:
        response = client.post("/v1/escrows", json=body, headers=headers)
        if response.status_code != 202:
            raise BenchError(f"diagnostic POST /v1/escrows: {response.status_code} "
                             f"{response.get_data(as_text=True)[:300]}")

    for _ in range(20):  # warm: imports, pool, broker connection
        post()
    counter, elapsed = _timed(post, ops)
    result: dict[str, Any] = {"request": _per_op(counter, ops, elapsed)}

    # The same request without its after-commit enqueue, to split broker time from the rest.
    send_task = celery_app.send_task
    celery_app.send_task = lambda *a, **k: None
    try:
        counter, elapsed = _timed(post, ops)
    finally:
        celery_app.send_task = send_task
    result["request_without_enqueue"] = _per_op(counter, ops, elapsed)

    started = time.perf_counter()
    for n in range(ops):
        celery_app.send_task("maintenance.noop", kwargs={"command_id": f"diag-{n}"})
    result["enqueue_one_task_ms"] = round((time.perf_counter() - started) / ops * 1000, 3)

    if profile_top:
        result["profile"] = _profiled(post, ops, profile_top)
    return result


def _profiled(fn: Callable[[], object], ops: int, top: int) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(ops):
        fn()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def settlement_command(accounts: list[str], ops: int, *, profile_top: int = 0
                       ) -> dict[str, Any]:
    """One collateral transfer settled in-process: the worker's unit of work without Celery."""
    from app.config import get_settings  # noqa: PLC0415
    from app.persistence.db import unit_of_work  # noqa: PLC0415
    from app.services import intake  # noqa: PLC0415
    from tasks.settlement import settle_command  # noqa: PLC0415 - the task's own work

    decimals = get_settings().asset_decimals
    deadline = datetime.now(UTC) + timedelta(hours=1)
    ids: list[str] = []
    with unit_of_work() as session:
        for n in range((2 if profile_top else 1) * ops + 20):
            command_id = f"bench-diag-{uuid.uuid4().hex[:12]}"
            intake.submit_settlement_command(
                session, decimals, command_id=command_id, type="COLLATERAL_TRANSFER",
                workflow_id="bench-diag", account_ref="diag", payer=accounts[n % len(accounts)],
                payee=accounts[(n + 1) % len(accounts)], asset="USD", amount="0.01",
                deadline=deadline)
            ids.append(command_id)
    pending = iter(ids)

    def settle() -> None:
        outcome = settle_command(next(pending), datetime.now(UTC), get_settings())
        if outcome.status != "settled":
            raise BenchError(f"diagnostic settlement {outcome.status}: {outcome.reason}")

    for _ in range(20):
        settle()
    counter, elapsed = _timed(settle, ops)
    result: dict[str, Any] = {"command": _per_op(counter, ops, elapsed)}
    if profile_top:
        result["profile"] = _profiled(settle, ops, profile_top)
    return result


def run(api_key: str, payer: str, accounts: list[str], ops: int = 200,
        profile_top: int = 0) -> dict[str, Any]:
    return {"escrow_post": escrow_request(api_key, payer, ops, profile_top=profile_top),
            "settlement": settlement_command(accounts, ops, profile_top=profile_top)}
