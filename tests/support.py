"""Helpers shared by the integration, end-to-end and fault tiers: services, workers, polling."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import psycopg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import devstack  # noqa: E402

T = TypeVar("T")
QUEUES = "settlement,risk,compliance,alerts,batch"


def wait_for(predicate: Callable[[], T], *, timeout: float = 30.0, interval: float = 0.05,
             what: str = "condition") -> T:
    """Poll with a deadline instead of sleeping a guessed amount."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def start_services(data_dir: Path) -> dict[str, str]:
    """Use DATABASE_URL / CELERY_BROKER_URL when given, else private servers under data_dir.

    The private servers run without fsync or an append-only file: a test database is thrown
    away, and the suite runs several times faster. `make run` gets the durable defaults."""
    env: dict[str, str] = {}
    database = os.environ.get("DATABASE_URL") or devstack.ensure_postgres(data_dir,
                                                                          fast_unsafe=True)
    env["DATABASE_URL"] = database
    broker = os.environ.get("CELERY_BROKER_URL")
    if broker:
        env["CELERY_BROKER_URL"] = broker
        env["CELERY_RESULT_BACKEND"] = os.environ.get("CELERY_RESULT_BACKEND", broker)
    else:
        broker = devstack.ensure_redis(data_dir, fast_unsafe=True)
        env["CELERY_BROKER_URL"] = broker
        env["CELERY_RESULT_BACKEND"] = broker.rsplit("/", 1)[0] + "/1"
    return env


def create_test_database(server_url: str) -> str:
    """A fresh database per test run on the given server; returns its SQLAlchemy URL."""
    url = make_url(server_url.replace("postgres://", "postgresql://", 1)).set(
        drivername="postgresql+psycopg")
    name = f"fusion_test_{uuid.uuid4().hex[:10]}"
    admin = url.set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False)


def drop_test_database(url: str) -> None:
    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')


class ManagedProcess:
    """A real child process of the system (worker, bridge, relay) with its log in a file; started
    in its own process group so a kill reaches its children too."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path, *,
                 ready_marker: bytes, name: str) -> None:
        self.args, self.env, self.log_path = args, env, log_path
        self.ready_marker, self.name = ready_marker, name
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> ManagedProcess:
        log = self.log_path.open("ab")
        self.offset = self.log_path.stat().st_size
        self.process = subprocess.Popen(
            self.args, cwd=ROOT, env={**os.environ, **self.env}, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(self._ready, timeout=timeout, interval=0.2, what=f"{self.name} ready")
        return self

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"{self.name} exited early; see {self.log_path}")
        return self.ready_marker in self.log_path.read_bytes()[self.offset:]

    def kill(self) -> None:
        """SIGKILL the whole process group: what an OOM kill or a lost node does."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM and wait; returns the exit code (None if it had to be killed)."""
        if self.process is None:
            return None
        if self.process.poll() is not None:
            return self.process.returncode
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None


class Worker(ManagedProcess):
    """A real `celery worker` process (prefork pool) on the real broker."""

    def __init__(self, env: dict[str, str], log_path: Path, *, concurrency: int = 2,
                 queues: str = QUEUES, name: str | None = None) -> None:
        node = name or f"test-{uuid.uuid4().hex[:6]}"
        super().__init__(
            [sys.executable, "-m", "celery", "-A", "tasks", "worker", "-Q", queues,
             "-c", str(concurrency), "-P", "prefork", "-n", f"{node}@%h",
             "--without-gossip", "--without-mingle", "-l", "INFO"],
            env, log_path, ready_marker=b"ready.", name=f"worker {node}")

    def start(self, timeout: float = 60) -> Worker:
        super().start(timeout)
        return self

def drain(queues: tuple[str, ...] = ("settlement", "risk", "alerts"), timeout: float = 90) -> None:
    """Wait until the queues are empty and no worker holds a task: every sent task has run.
    A timeout names what was still waiting or running (a loaded CI machine is slow, not stuck:
    the deadline is generous)."""
    import redis  # noqa: PLC0415

    from tasks.celery_app import celery_app  # noqa: PLC0415

    client = redis.Redis.from_url(os.environ["CELERY_BROKER_URL"])
    seen: dict[str, object] = {}

    def idle() -> bool:
        waiting = {q: n for q in queues if (n := client.llen(q))}
        seen["waiting"] = waiting
        if waiting:
            return False
        inspect = celery_app.control.inspect(timeout=1.0)
        busy = [(t.get("name"), t.get("id")) for held in (inspect.active(), inspect.reserved())
                for tasks in (held or {}).values() for t in tasks]
        seen["busy"] = busy
        return not busy

    try:
        wait_for(idle, timeout=timeout, interval=0.2, what="queues drained")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; still waiting {seen.get('waiting')}, running or "
                             f"reserved {seen.get('busy')}") from None
