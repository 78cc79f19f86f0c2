"""Settled commands per second through the API: POST /v1/settlement/command-batches (1,000
commands a request) next to single POST /v1/settlement/commands, on the same worker.

Each run is closed loop: the requests are sent as fast as a few keep-alive connections
allow, and the clock runs from the first request until Postgres shows every command of the
run terminal. CPU per settled command counts the system under test (worker, gunicorn,
PostgreSQL, Redis when private), not the bench process.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from bench.api_latency import create_key
from bench.common import (
    BenchError,
    CpuMeter,
    count_terminal,
    queue_drained,
    service_cpu_ms_per_op,
)

POLL_INTERVAL = 0.05
BATCH_SIZE = 1000


@dataclass(frozen=True)
class Config:
    single: int = 2000
    batched: int = 10_000
    threads: int = 8
    timeout: float = 240.0
    seed: int = 11


def _command(n: int, workflow_id: str, accounts: list[str], rng: random.Random) -> dict[str, Any]:
    payer, payee = rng.sample(accounts, 2)
    return {"command_id": f"{workflow_id}-{n:06d}", "type": "COLLATERAL_TRANSFER",
            "workflow_id": workflow_id, "account_ref": f"ref-{n}", "payer": payer,
            "payee": payee, "asset": "USD", "amount": f"{rng.randint(1, 999) / 100:.2f}",
            "deadline": "2999-01-01T00:00:00Z"}


def _post_all(port: int, key: str, path: str, bodies: list[bytes], threads: int) -> None:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    lock, errors, queue = threading.Lock(), [], list(reversed(bodies))

    def work() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                if not queue:
                    break
                body = queue.pop()
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 202:
                errors.append(response.status)
        conn.close()

    pool = [threading.Thread(target=work, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if errors:
        raise BenchError(f"{len(errors)} requests refused: {sorted(set(errors))}")


def _measure(port: int, key: str, path: str, bodies: list[bytes], count: int,
             workflow_id: str, threads: int, timeout: float) -> dict[str, Any]:
    where, params = "workflow_id = :wf", {"wf": workflow_id}
    meter = CpuMeter()
    started = time.perf_counter()
    _post_all(port, key, path, bodies, threads)
    posted = time.perf_counter()
    settled = failed = 0
    while time.perf_counter() < started + timeout:
        settled, failed, _ = count_terminal(where, params)
        if settled + failed >= count:
            break
        time.sleep(POLL_INTERVAL)
    finished = time.perf_counter()
    # Every task sent has run (those whose commands another task settled skip them): CPU
    # per command counts that work, and the next run does not wait behind it.
    while not queue_drained() and time.perf_counter() < started + timeout:
        time.sleep(POLL_INTERVAL)
    drained = time.perf_counter()
    cpu = meter.stop()
    done = settled + failed
    return {"count": count, "requests": len(bodies), "settled": settled, "failed": failed,
            "complete": done >= count, "post_s": round(posted - started, 3),
            "elapsed_s": round(finished - started, 3),
            "drained_s": round(drained - started, 3),
            "per_s": round(done / (finished - started), 1),
            "per_s_drained": round(done / (drained - started), 1), "cpu": cpu,
            "service_cpu_ms_per_op": service_cpu_ms_per_op(cpu, done)}


def run_single(config: Config, port: int, accounts: list[str], label: str) -> dict[str, Any]:
    """Single POSTs alone (the worker as configured by the caller, e.g. without taking
    waiting commands into its units of work)."""
    rng = random.Random(config.seed)
    workflow_id = f"bench-{label}-{uuid.uuid4().hex[:8]}"
    return _measure(port, create_key(), "/v1/settlement/commands",
                    [json.dumps(_command(n, workflow_id, accounts, rng)).encode()
                     for n in range(config.single)],
                    config.single, workflow_id, config.threads, config.timeout)


def settlers(workflow_prefix: str) -> dict[str, float]:
    """How many tasks' units of work settled the commands of the runs whose workflow id
    starts with `workflow_prefix`, and the mean number of commands each settled."""
    from sqlalchemy import text  # noqa: PLC0415

    from app.persistence.db import get_engine  # noqa: PLC0415

    sql = text("SELECT count(DISTINCT settled_by), count(*) FROM commands "
               "WHERE workflow_id LIKE :wf AND status IN ('settled', 'failed')")
    with get_engine().connect() as conn:
        tasks, commands = conn.execute(sql, {"wf": f"{workflow_prefix}%"}).one()
    return {"tasks": int(tasks), "commands": int(commands),
            "commands_per_task": round(commands / tasks, 2) if tasks else 0.0}


def run(config: Config, port: int, accounts: list[str]) -> dict[str, Any]:
    rng = random.Random(config.seed)
    key = create_key()
    run_id = uuid.uuid4().hex[:8]
    # Warm-up (not timed): both routes once, so imports and connections are in place.
    warm = f"bench-bwarm-{run_id}"
    _measure(port, key, "/v1/settlement/command-batches",
             [json.dumps({"commands": [_command(n, warm, accounts, rng)
                                       for n in range(50)]}).encode()],
             50, warm, 1, 60)
    single_wf = f"bench-single-{run_id}"
    single = _measure(port, key, "/v1/settlement/commands",
                      [json.dumps(_command(n, single_wf, accounts, rng)).encode()
                       for n in range(config.single)],
                      config.single, single_wf, config.threads, config.timeout)
    batch_wf = f"bench-batch-{run_id}"
    commands = [_command(n, batch_wf, accounts, rng) for n in range(config.batched)]
    batched = _measure(port, key, "/v1/settlement/command-batches",
                       [json.dumps({"commands": commands[i:i + BATCH_SIZE]}).encode()
                        for i in range(0, len(commands), BATCH_SIZE)],
                       config.batched, batch_wf, 2, config.timeout)
    single["settlers"] = settlers(single_wf)
    ratio = round(batched["per_s"] / single["per_s"], 2) if single["per_s"] else None
    return {"single": single, "batched": batched, "batch_to_single_ratio": ratio}
