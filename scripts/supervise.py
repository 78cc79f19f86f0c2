"""The process supervisor behind `make run`: starts each child in its own process group,
restarts one that dies unexpectedly (with backoff, logged, counted), gives up when one keeps
dying, and stops them all, escalating to SIGKILL when asked twice.

Its counters are Prometheus metrics on a registry of its own (`serve_metrics`), so they stay
readable while the API, one of the children, is itself down.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server


class GaveUp(RuntimeError):
    """A child kept dying: the message names it, how often, and the tail of its log."""


@dataclass(frozen=True)
class RestartPolicy:
    """A child is restarted after `backoff_initial` seconds, doubling per recent death up to
    `backoff_max`; more than `max_restarts` deaths within `window_seconds` is giving up."""

    max_restarts: int = 5
    window_seconds: float = 300.0
    backoff_initial: float = 1.0
    backoff_max: float = 30.0

    def delay(self, recent_deaths: int) -> float:
        return float(min(self.backoff_initial * 2 ** max(recent_deaths - 1, 0),
                         self.backoff_max))


@dataclass
class Child:
    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes]
    deaths: deque[float] = field(default_factory=deque)
    restart_at: float | None = None  # set while it waits out its backoff


def describe_exit(code: int) -> str:
    return f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited ({code})"


def tail(path: Path, lines: int = 20) -> str:
    text = path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else []
    return f"--- last lines of {path} ---\n" + "\n".join(text)


class Supervisor:
    """Children by name; `poll()` is called from the caller's loop (no thread of its own, so
    the signal handling stays in the main thread)."""

    def __init__(self, logs: Path, *, cwd: Path, policy: RestartPolicy | None = None,
                 say: Callable[[str], None] = print) -> None:
        self.logs, self.cwd, self.policy, self.say = logs, cwd, policy or RestartPolicy(), say
        self.children: dict[str, Child] = {}
        self.registry = CollectorRegistry()
        self.restarts = Counter("fusion_run_restarts", "Unexpected exits of a child that "
                                "make run restarted", ["process"], registry=self.registry)
        self.up = Gauge("fusion_run_process_up", "1 while the child runs, 0 while it waits "
                        "to be restarted", ["process"], registry=self.registry)
        self.hurry = False  # a second stop request: SIGKILL instead of waiting

    def _event(self, log: Path, event: str, **fields: object) -> None:
        # A JSON line like the child's own, so its log file parses as JSON lines throughout.
        line = {"timestamp": datetime.now(UTC).isoformat(), "level": "info", "service": "run",
                "event": event, **fields}
        with log.open("a") as out:
            out.write(json.dumps(line) + "\n")

    def _popen(self, name: str, args: list[str], env: Mapping[str, str],
               log: Path) -> subprocess.Popen[bytes]:
        self._event(log, "process.start", process=name, command=shlex.join(args))
        with log.open("ab") as out:
            # Own process group: Ctrl-C reaches only the supervisor, each child is stopped
            # once, and killpg reaches the pool processes a dead child leaves behind.
            return subprocess.Popen(args, cwd=self.cwd, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, process_group=0, env=dict(env))

    def start(self, name: str, args: list[str], env: Mapping[str, str]) -> Child:
        log = self.logs / f"{name}.log"
        child = Child(name, args, dict(env), log, self._popen(name, args, env, log))
        self.children[name] = child
        self.restarts.labels(name).inc(0)
        self.up.labels(name).set(1)
        return child

    def check_alive(self) -> None:
        """Before the fleet is ready a death is a startup error: restarting would only hide
        a configuration mistake behind backoff."""
        for child in self.children.values():
            code = child.proc.poll()
            if code is not None:
                raise GaveUp(f"{child.name} (pid {child.proc.pid}) {describe_exit(code)} "
                             f"during startup; stopping everything\n{tail(child.log)}")

    def poll(self, now: float | None = None) -> None:
        """Notice deaths, schedule restarts with backoff, run the restarts that are due."""
        now = time.monotonic() if now is None else now
        for child in self.children.values():
            if child.restart_at is not None:
                if now >= child.restart_at:
                    self._restart(child)
                continue
            code = child.proc.poll()
            if code is not None:
                self._died(child, code, now)

    def _died(self, child: Child, code: int, now: float) -> None:
        window = self.policy.window_seconds
        while child.deaths and child.deaths[0] < now - window:
            child.deaths.popleft()
        child.deaths.append(now)
        self.up.labels(child.name).set(0)
        # Pool processes of a dead worker would keep holding tasks and ports.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.proc.pid, signal.SIGKILL)
        how = describe_exit(code)
        self._event(child.log, "process.exit", process=child.name, pid=child.proc.pid,
                    exit_code=code, deaths_in_window=len(child.deaths))
        if len(child.deaths) > self.policy.max_restarts:
            raise GaveUp(f"{child.name} (pid {child.proc.pid}) {how}; it died "
                         f"{len(child.deaths)} times within {window:.0f}s, so make run gives "
                         f"up and stops everything\n{tail(child.log)}")
        delay = self.policy.delay(len(child.deaths))
        child.restart_at = now + delay
        self.say(f"  {child.name} (pid {child.proc.pid}) {how} unexpectedly; restarting in "
                 f"{delay:g}s (death {len(child.deaths)} of at most "
                 f"{self.policy.max_restarts + 1} within {window:.0f}s; log {child.log})")

    def _restart(self, child: Child) -> None:
        child.restart_at = None
        child.proc = self._popen(child.name, child.args, child.env, child.log)
        self.restarts.labels(child.name).inc()
        self.up.labels(child.name).set(1)
        self._event(child.log, "process.restarted", process=child.name, pid=child.proc.pid)
        self.say(f"  restarted {child.name}: pid {child.proc.pid}")

    def serve_metrics(self, port: int, host: str = "127.0.0.1") -> None:
        start_http_server(port, addr=host, registry=self.registry)

    def stop(self, timeout: float) -> None:
        """SIGTERM every child (warm shutdown), newest first; wait up to `timeout`, or until
        `hurry` is set (a second Ctrl-C); then SIGKILL every process group, so nothing a child
        started outlives the run."""
        children = list(reversed(self.children.values()))
        for child in children:
            child.restart_at = None
            if child.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    child.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while (not self.hurry and time.monotonic() < deadline
               and any(c.proc.poll() is None for c in children)):
            time.sleep(0.1)
        for child in children:
            if child.proc.poll() is None:
                why = "a second stop request" if self.hurry else f"{timeout:.0f}s passed"
                self.say(f"  {child.name} still running after {why}; killing it")
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.proc.pid, signal.SIGKILL)
            self.say(f"  stopped {child.name} (exit {child.proc.wait()})")
