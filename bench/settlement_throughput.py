"""Settlement throughput against a no-op baseline on the same worker.

A batch of COLLATERAL_TRANSFER commands is accepted (committed) up front, then every task is
sent to the real worker and the clock runs from the first send until Postgres shows all of the
batch terminal. The same number of `maintenance.noop` tasks then goes through the same worker,
and the clock runs until the result backend holds a final state for every one of them. Both
waits poll an outside store a few times a second, adding nothing to the worker's per-task work.

Then, for reference, as many `maintenance.ping_database` tasks: one statement in a unit of
work, the floor for any task that touches PostgreSQL. It shows how much of the gap between a
settlement and a no-op is the settlement's own work, and how much is having a database at all.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.common import (
    BenchError,
    CpuMeter,
    count_terminal,
    failure_reasons,
    queue_drained,
    service_cpu_ms_per_op,
)

POLL_INTERVAL = 0.05
PING = "maintenance.ping_database"
FINAL_STATES = frozenset({"SUCCESS", "FAILURE", "REVOKED"})


@dataclass(frozen=True)
class Config:
    commands: int = 2000
    noops: int = 2000
    warmup: int = 40
    timeout: float = 240.0
    seed: int = 7


def accept_transfers(accounts: list[str], count: int, workflow_id: str,
                     rng: random.Random, batch: int = 250) -> list[str]:
    """Accept `count` collateral transfers between random distinct funded accounts."""
    from app.config import get_settings  # noqa: PLC0415
    from app.persistence.db import unit_of_work  # noqa: PLC0415
    from app.services import intake  # noqa: PLC0415

    decimals = get_settings().asset_decimals
    deadline = datetime.now(UTC) + timedelta(hours=1)
    ids: list[str] = []
    for start in range(0, count, batch):
        with unit_of_work() as session:
            for n in range(start, min(count, start + batch)):
                payer, payee = rng.sample(accounts, 2)
                command_id = f"{workflow_id}-{n:05d}"
                accepted = intake.submit_settlement_command(
                    session, decimals, command_id=command_id, type="COLLATERAL_TRANSFER",
                    workflow_id=workflow_id, account_ref=f"ref-{n}", payer=payer, payee=payee,
                    asset="USD", amount=f"{rng.randint(1, 9999) / 100:.2f}", deadline=deadline)
                if not accepted.created:
                    raise BenchError(f"command {command_id} already existed")
                ids.append(accepted.command_id)
    return ids


def settle_batch(command_ids: list[str], workflow_id: str, timeout: float) -> dict[str, Any]:
    """Send every command's task, then wait until the whole batch is terminal in Postgres."""
    from tasks.celery_app import send_command_task  # noqa: PLC0415

    where, params = "workflow_id = :wf", {"wf": workflow_id}
    meter = CpuMeter()
    started = time.perf_counter()
    for command_id in command_ids:
        send_command_task("settlement.process_command", command_id)
    sent = time.perf_counter()
    deadline = started + timeout
    settled = failed = 0
    while time.perf_counter() < deadline:
        settled, failed, _ = count_terminal(where, params)
        if settled + failed >= len(command_ids):
            break
        time.sleep(POLL_INTERVAL)
    finished = time.perf_counter()
    # The commands' own tasks of those another task took still run (and skip): their cost
    # is the settlement's too, and the next measurement must not wait behind them.
    while not queue_drained() and time.perf_counter() < deadline:
        time.sleep(POLL_INTERVAL)
    drained = time.perf_counter()
    cpu = meter.stop()
    done = settled + failed
    return {
        "count": len(command_ids), "settled": settled, "failed": failed,
        "complete": done >= len(command_ids),
        "failure_reasons": failure_reasons(where, params) if failed else {},
        "enqueue_s": round(sent - started, 3), "elapsed_s": round(finished - started, 3),
        "drained_s": round(drained - started, 3),
        "per_s": round(done / (finished - started), 1),
        "per_s_drained": round(done / (drained - started), 1), "cpu": cpu,
        "service_cpu_ms_per_op": service_cpu_ms_per_op(cpu, done),
    }


def noop_batch(count: int, timeout: float,
               task_name: str = "maintenance.noop") -> dict[str, Any]:
    """Send `count` no-op tasks (or reference tasks without arguments), then wait until the
    result backend has a final state for each.

    Only the ids still outstanding are read (MGET), so the check gets cheaper as the batch
    drains; the worker writes these results anyway (settlement tasks store theirs too)."""
    from tasks.celery_app import celery_app  # noqa: PLC0415

    backend = celery_app.backend
    client = backend.client
    ids = [str(uuid.uuid4()) for _ in range(count)]
    keys = {backend.get_key_for_task(task_id): task_id for task_id in ids}
    outcomes: dict[str, int] = {}
    meter = CpuMeter()
    started = time.perf_counter()
    named = task_name == "maintenance.noop"  # the reference tasks take no arguments
    for task_id in ids:
        celery_app.send_task(task_name, kwargs={"command_id": task_id} if named else {},
                             task_id=task_id)
    sent = time.perf_counter()
    deadline = started + timeout
    pending = list(keys)
    while pending and time.perf_counter() < deadline:
        still: list[bytes] = []
        for chunk_start in range(0, len(pending), 500):
            chunk = pending[chunk_start:chunk_start + 500]
            for key, raw in zip(chunk, client.mget(chunk), strict=True):
                state = json.loads(raw).get("status") if raw else None
                if state in FINAL_STATES:
                    outcomes[state] = outcomes.get(state, 0) + 1
                else:
                    still.append(key)
        pending = still
        if pending:
            time.sleep(POLL_INTERVAL)
    finished = time.perf_counter()
    cpu = meter.stop()
    done = count - len(pending)
    client.delete(*keys)  # the backend keeps results for a week otherwise
    return {
        "count": count, "states": outcomes, "complete": not pending,
        "enqueue_s": round(sent - started, 3), "elapsed_s": round(finished - started, 3),
        "per_s": round(done / (finished - started), 1), "cpu": cpu,
        "service_cpu_ms_per_op": service_cpu_ms_per_op(cpu, done),
    }


def batch_transfers(workflow_id: str) -> dict[str, int]:
    """Transfers opened by this batch: one per settled command, none for a failed one."""
    from sqlalchemy import text  # noqa: PLC0415

    from app.persistence.db import get_engine  # noqa: PLC0415

    sql = text("SELECT c.status, count(t.transfer_id) FROM commands c "
               "LEFT JOIN ledger_transfers t ON t.transfer_id = c.command_id || :suffix "
               "WHERE c.workflow_id = :wf GROUP BY c.status")
    with get_engine().connect() as conn:
        rows = conn.execute(sql, {"wf": workflow_id, "suffix": ":payment"})
        return {str(status): int(n) for status, n in rows}


def run(config: Config, accounts: list[str]) -> dict[str, Any]:
    rng = random.Random(config.seed)
    run_id = uuid.uuid4().hex[:8]

    # Warm-up (not timed): pool processes open their DB and broker connections, imports settle.
    warm_wf = f"bench-warm-{run_id}"
    warm_ids = accept_transfers(accounts, config.warmup, warm_wf, rng)
    warm = settle_batch(warm_ids, warm_wf, timeout=60)
    if not warm["complete"]:
        raise BenchError(f"warm-up commands did not finish: {warm}")
    noop_batch(config.warmup, timeout=60)
    noop_batch(config.warmup, timeout=60, task_name=PING)

    workflow_id = f"bench-tp-{run_id}"
    ids = accept_transfers(accounts, config.commands, workflow_id, rng)
    settlement = settle_batch(ids, workflow_id, config.timeout)
    noop = noop_batch(config.noops, config.timeout)
    ping = noop_batch(config.noops, config.timeout, task_name=PING)
    ratio = settlement["per_s"] / noop["per_s"] if noop["per_s"] else float("nan")
    settle_cpu, noop_cpu = settlement["service_cpu_ms_per_op"], noop["service_cpu_ms_per_op"]
    cpu_ratio = (round(noop_cpu["total"] / settle_cpu["total"], 3)
                 if settle_cpu and noop_cpu and settle_cpu["total"] else None)
    transfers = batch_transfers(workflow_id)
    settlement["transfers"] = transfers
    settlement["exactly_once"] = (settlement["complete"]
                                  and transfers.get("settled", 0) == settlement["settled"]
                                  and transfers.get("failed", 0) == 0)
    return {"workflow_id": workflow_id, "settlement": settlement, "noop": noop,
            "ratio": round(ratio, 3), "cpu_cost_ratio": cpu_ratio, "ping_database": ping,
            "ping_ratio": _ratio(ping, noop), "settlement_to_ping_ratio": _ratio(settlement, ping)}


def _ratio(numerator: dict[str, Any], denominator: dict[str, Any]) -> float | None:
    return (round(numerator["per_s"] / denominator["per_s"], 3) if denominator["per_s"]
            else None)
