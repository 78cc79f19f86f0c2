"""Single `POST /v1/settlement/commands` → command terminal in PostgreSQL, open loop at a
steady rate (issue 17's target: p99 <= 50 ms at 100 commands/s), with the worker running.

Request i is due at start + i/rate (api_latency.Load: no coordinated omission). Each
command's end-to-end latency is taken two ways, both from its due time:
  - decided: the row's settled_at / failed_at (the worker's clock when its unit of work
    began, a lower bound by the few milliseconds of the write and commit);
  - observed: when a poller, reading the still-pending ids every POLL_INTERVAL by primary
    key, first saw it terminal (an upper bound by at most one poll interval).
Both clocks are this machine's.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bench.api_latency import Config as LoadConfig
from bench.api_latency import Load, create_key
from bench.common import BenchError, contention_note, describe_cpu, summarise_ms

PATH = "/v1/settlement/commands"
POLL_INTERVAL = 0.005


@dataclass(frozen=True)
class Config:
    rate: float = 100.0
    warmup: float = 3.0
    duration: float = 15.0
    target_p99_ms: float = 50.0
    settle_timeout: float = 120.0


class CommandLoad(Load):
    path = PATH

    def _post(self, conn: Any, body: bytes) -> tuple[int, bytes]:
        conn.request("POST", self.path, body=body, headers=self.headers)
        response = conn.getresponse()
        return response.status, response.read()


def _bodies(workflow_id: str, accounts: list[str], count: int) -> list[bytes]:
    return [json.dumps({
        "command_id": f"{workflow_id}-{n:06d}", "type": "COLLATERAL_TRANSFER",
        "workflow_id": workflow_id, "account_ref": f"ref-{n}",
        "payer": accounts[n % len(accounts)], "payee": accounts[(n * 7 + 1) % len(accounts)],
        "asset": "USD", "amount": "0.01", "deadline": "2999-01-01T00:00:00Z"}).encode()
        for n in range(count)]


class Poller(threading.Thread):
    """Reads which posted commands are terminal, by primary key, every POLL_INTERVAL."""

    def __init__(self, workflow_id: str, load: CommandLoad) -> None:
        super().__init__(name="terminal-poller", daemon=True)
        self.workflow_id, self.load = workflow_id, load
        self.seen: dict[int, float] = {}
        self.stop_at = float("inf")
        self.polls = 0

    def run(self) -> None:
        from sqlalchemy import text  # noqa: PLC0415

        from app.persistence.db import get_engine  # noqa: PLC0415

        sql = text("SELECT command_id FROM commands WHERE command_id = ANY(:ids) "
                   "AND status IN ('settled', 'failed')")
        prefix = len(self.workflow_id) + 1
        with get_engine().connect() as conn:
            while time.perf_counter() < self.stop_at:
                pending = {f"{self.workflow_id}-{i:06d}": i
                           for i, s in enumerate(self.load.samples)
                           if s is not None and s.status == 202 and i not in self.seen}
                if pending:
                    found = conn.execute(sql, {"ids": list(pending)}).scalars().all()
                    conn.rollback()
                    now = time.perf_counter()
                    for command_id in found:
                        self.seen[int(command_id[prefix:])] = now
                    self.polls += 1
                time.sleep(POLL_INTERVAL)


def run(config: Config, port: int, accounts: list[str], run_id: str) -> dict[str, Any]:
    workflow_id = f"bench-lat-{run_id}"
    load_config = LoadConfig(rate=config.rate, warmup=config.warmup, duration=config.duration,
                             target_p99_ms=config.target_p99_ms)
    load = CommandLoad(port, create_key(), [], load_config)
    load.bodies = _bodies(workflow_id, accounts, load.total)
    poller = Poller(workflow_id, load)
    poller.start()
    wall_offset = time.time() - time.perf_counter()
    load.run()
    api = load.report()
    accepted = [i for i, s in enumerate(load.samples) if s is not None and s.status == 202]
    deadline = time.perf_counter() + config.settle_timeout
    while len(poller.seen) < len(accepted) and time.perf_counter() < deadline:
        time.sleep(0.05)
    poller.stop_at = 0.0
    poller.join(timeout=5)
    decided_at = _decided(workflow_id)
    skip = int(config.warmup * config.rate)
    measured = [i for i in accepted if i >= skip]
    due = {i: load.start + i / config.rate for i in measured}
    observed = [poller.seen[i] - due[i] for i in measured if i in poller.seen]
    decided = [decided_at[i] - (due[i] + wall_offset) for i in measured if i in decided_at]
    unfinished = len(measured) - len(observed)
    if not measured:
        raise BenchError("no command of the latency run was accepted")
    latency = summarise_ms(observed)
    return {
        "rate": config.rate, "duration_s": config.duration, "commands": len(measured),
        "not_terminal": unfinished, "http_errors": api["errors"],
        "post_latency_ms": api["latency_ms"],
        "terminal_observed_ms": latency, "terminal_decided_ms": summarise_ms(decided),
        "polls": poller.polls, "cpu": api["cpu"],
        "p99_target_ms": config.target_p99_ms,
        "p99_ok": bool(latency) and unfinished == 0 and api["errors"] == 0
                  and latency["p99"] <= config.target_p99_ms,
    }


def _decided(workflow_id: str) -> dict[int, float]:
    from sqlalchemy import text  # noqa: PLC0415

    from app.persistence.db import get_engine  # noqa: PLC0415

    sql = text("SELECT command_id, coalesce(settled_at, failed_at) AS at FROM commands "
               "WHERE workflow_id = :wf AND status IN ('settled', 'failed')")
    prefix = len(workflow_id) + 1
    with get_engine().connect() as conn:
        rows = conn.execute(sql, {"wf": workflow_id}).all()
    return {int(r.command_id[prefix:]): _seconds(r.at) for r in rows}


def _seconds(at: datetime) -> float:
    return at.astimezone(UTC).timestamp()


def describe(result: dict[str, Any]) -> str:
    def row(name: str, d: dict[str, float]) -> str:
        return (f"  {name:<30} p50 {d.get('p50', 0):7.2f}  p90 {d.get('p90', 0):7.2f}  "
                f"p99 {d.get('p99', 0):7.2f}  max {d.get('max', 0):7.2f}")

    verdict = "OK" if result["p99_ok"] else "MISSED"
    lines = [
        f"\n== Single POST /v1/settlement/commands -> terminal, open loop at "
        f"{result['rate']:.0f}/s for {result['duration_s']:.0f} s (worker running) ==",
        f"  commands {result['commands']}, not terminal {result['not_terminal']}, HTTP errors "
        f"{result['http_errors']}, polls {result['polls']}",
        row("POST answered (from due) ms", result["post_latency_ms"]),
        row("terminal, decided (rows) ms", result["terminal_decided_ms"]),
        row("terminal, observed (poll) ms", result["terminal_observed_ms"]),
        f"  p99 (observed) <= {result['p99_target_ms']:.0f} ms: {verdict}",
        f"  {describe_cpu(result['cpu'])}",
    ]
    if note := contention_note(result["cpu"]):
        lines.append(f"  {note}")
    return "\n".join(lines)
