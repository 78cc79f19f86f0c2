"""`POST /v1/escrows` latency under a steady open-loop load.

Request i is due at start + i/rate whether or not earlier ones have answered (open loop, as
wrk2 does). A pool of threads, each with its own keep-alive HTTP/1.1 connection, claims the
next due request, sleeps until its due time and sends it. Latency is measured from the due
time, so a stall that delays later sends is charged to them (no coordinated omission); the
service time (from the actual send) is reported beside it.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.common import (
    BenchError,
    CpuMeter,
    count_terminal,
    failure_reasons,
    service_cpu_ms_per_op,
    summarise_ms,
)

PATH = "/v1/escrows"
GRACE = 5.0  # seconds after the last due time during which late requests are still sent


@dataclass(frozen=True)
class Config:
    rate: float = 200.0
    warmup: float = 3.0
    duration: float = 15.0
    threads: int = 32
    timeout: float = 10.0
    target_p99_ms: float = 20.0
    drain_timeout: float = 120.0


@dataclass
class Sample:
    due: float
    sent: float
    done: float
    status: int  # HTTP status, or 0 when the request failed without a response
    error: str | None = None


class Load:
    def __init__(self, port: int, api_key: str, bodies: list[bytes], config: Config) -> None:
        self.port, self.config, self.bodies = port, config, bodies
        self.headers = {"Authorization": f"Bearer {api_key}",
                        "Content-Type": "application/json"}
        self.total = int((config.warmup + config.duration) * config.rate)
        self.samples: list[Sample | None] = [None] * self.total
        self.reconnects = 0
        self._next = 0
        self._lock = threading.Lock()
        self.start = 0.0
        self.hard_stop = 0.0
        self.cpu: dict[str, Any] = {}
        self.stopped_at = 0.0  # when the last thread stopped sending

    def _claim(self) -> int | None:
        with self._lock:
            index, self._next = self._next, self._next + 1
        return index if index < self.total else None

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.config.timeout)

    def _post(self, conn: http.client.HTTPConnection, body: bytes) -> tuple[int, bytes]:
        conn.request("POST", PATH, body=body, headers=self.headers)
        response = conn.getresponse()
        return response.status, response.read()

    def _thread(self) -> None:
        conn = self._connect()
        fresh = True
        try:
            while (index := self._claim()) is not None:
                due = self.start + index / self.config.rate
                if time.perf_counter() > self.hard_stop:
                    break  # overloaded: what is still unsent by now counts as not sent
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                body = self.bodies[index % len(self.bodies)]
                sent = time.perf_counter()
                status, error = 0, None
                for attempt in (1, 2):
                    try:
                        status, _ = self._post(conn, body)
                        fresh = False
                        break
                    except (http.client.RemoteDisconnected, BrokenPipeError,
                            ConnectionResetError) as exc:
                        # The server closed an idle keep-alive connection before reading
                        # this request: nothing was processed, so one retry is safe.
                        conn.close()
                        conn = self._connect()
                        with self._lock:
                            self.reconnects += 1
                        if fresh or attempt == 2:
                            error = type(exc).__name__
                            break
                        fresh = True
                    except (OSError, http.client.HTTPException) as exc:
                        error = type(exc).__name__
                        conn.close()
                        conn = self._connect()
                        fresh = True
                        break
                self.samples[index] = Sample(due, sent, time.perf_counter(), status, error)
        finally:
            conn.close()
            with self._lock:
                self.stopped_at = max(self.stopped_at, time.perf_counter())

    def run(self) -> None:
        threads = [threading.Thread(target=self._thread, name=f"load-{n}", daemon=True)
                   for n in range(self.config.threads)]
        self.start = time.perf_counter() + 0.25
        span = self.config.warmup + self.config.duration
        self.hard_stop = self.start + span + GRACE
        for thread in threads:
            thread.start()
        # CPU over the measured part only (the warm-up is left out).
        time.sleep(max(0.0, self.start + self.config.warmup - time.perf_counter()))
        meter = CpuMeter()
        time.sleep(max(0.0, self.start + span - time.perf_counter()))
        self.cpu = meter.stop()
        for thread in threads:
            thread.join(timeout=max(1.0, self.hard_stop + 2 * self.config.timeout + 5
                                    - time.perf_counter()))
        if any(thread.is_alive() for thread in threads):
            raise BenchError("load threads did not finish in time")

    def _cpu_per_request(self) -> dict[str, float] | None:
        """CPU of the system under test per request accepted during the metered window."""
        if not self.cpu:
            return None
        end = self.start + self.config.warmup + self.config.duration
        begin = self.start + self.config.warmup
        ok = sum(1 for s in self.samples
                 if s is not None and s.status == 202 and begin <= s.done <= end)
        return service_cpu_ms_per_op(self.cpu, ok)

    def report(self) -> dict[str, Any]:
        skip = int(self.config.warmup * self.config.rate)
        measured = self.samples[skip:]
        done = [s for s in measured if s is not None]
        ok = [s for s in done if s.status == 202]
        statuses: dict[str, int] = {}
        for sample in done:
            label = str(sample.status) if sample.status else f"error:{sample.error}"
            statuses[label] = statuses.get(label, 0) + 1
        not_sent = len(measured) - len(done)
        # Throughput: responses (warm-up ones included) that arrived inside the measured window.
        begin = self.start + self.config.warmup
        end = begin + self.config.duration
        answered = sum(1 for s in self.samples if s is not None and s.status
                       and begin <= s.done <= end)
        # Open loop: a request the run never got to send has waited at least until the run
        # stopped sending; it is counted at that lower bound instead of being dropped.
        unsent_due = [self.start + (skip + i) / self.config.rate
                      for i, s in enumerate(measured) if s is None]
        censored = [max(0.0, self.stopped_at - due) for due in unsent_due]
        latency = summarise_ms([s.done - s.due for s in ok] + censored)
        service = summarise_ms([s.done - s.sent for s in ok])
        send_lag = summarise_ms([s.sent - s.due for s in done])
        return {
            "target_rate": self.config.rate, "duration_s": self.config.duration,
            "warmup_s": self.config.warmup, "threads": self.config.threads,
            "requests": len(measured), "completed": len(done), "accepted_202": len(ok),
            "errors": len(measured) - len(ok), "not_sent": not_sent, "statuses": statuses,
            "achieved_rate": round(answered / self.config.duration, 1),
            "latency_ms": latency, "latency_is_lower_bound": bool(censored),
            "service_time_ms": service, "send_lag_ms": send_lag,
            "reconnects": self.reconnects, "cpu": self.cpu,
            "service_cpu_ms_per_request": self._cpu_per_request(),
            "p99_target_ms": self.config.target_p99_ms,
            "p99_ok": bool(latency) and latency["p99"] <= self.config.target_p99_ms
                      and len(ok) == len(measured),
        }


def create_key() -> str:
    from app.config import get_settings  # noqa: PLC0415
    from app.persistence.db import unit_of_work  # noqa: PLC0415
    from app.services.apikeys import create_api_key  # noqa: PLC0415

    pepper = get_settings().api_key_pepper.get_secret_value()
    with unit_of_work() as session:
        return create_api_key(session, name="bench", scopes=["settlement:write"], pepper=pepper)


def escrow_bodies(payers: list[str], count: int) -> list[bytes]:
    """Distinct small escrows spread over the funded payers (payees need no balance)."""
    return [json.dumps({"payer": payers[i % len(payers)], "payee": f"bench-payee-{i % 97:03d}",
                        "amount": "1.00", "asset": "USD", "release_delay_seconds": 3600,
                        "approvals_required": 1}).encode() for i in range(count)]


def wait_drained(expected: int, timeout: float, started: float) -> dict[str, Any]:
    """After the load, wait (bounded) until the worker has run every escrow command."""
    where, params = "type = 'ESCROW_CREATE'", dict[str, Any]()
    settled = failed = total = 0
    while time.perf_counter() - started < timeout:
        settled, failed, total = count_terminal(where, params)
        if total >= expected and settled + failed >= total:
            break
        time.sleep(0.2)
    return {"escrow_commands": total, "settled": settled, "failed": failed,
            "complete": settled + failed >= total >= expected,
            "failure_reasons": failure_reasons(where, params) if failed else {},
            "drain_after_load_s": round(time.perf_counter() - started, 2)}


def run(config: Config, port: int, payers: list[str],
        before_drain: Callable[[], object] | None = None) -> dict[str, Any]:
    load = Load(port, create_key(), [], config)
    load.bodies = escrow_bodies(payers, load.total)
    load.run()
    report = load.report()
    drain_started = time.perf_counter()
    if before_drain is not None:
        before_drain()
    accepted_total = sum(1 for s in load.samples if s is not None and s.status == 202)
    report["worker"] = wait_drained(accepted_total, config.drain_timeout, drain_started)
    return report
