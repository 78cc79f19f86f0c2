"""What both benchmarks share: the private services, a fresh database, child processes
(a Celery worker, gunicorn), bounded polling, percentiles, and the ledger integrity check.

Nothing here imports the application at module level: the app reads its settings once, so the
environment (DATABASE_URL, broker, result backend) must be in place before the first import.
"""

from __future__ import annotations

import contextlib
import fcntl
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / ".fusion" / "bench"
RESULTS_DIR = ROOT / "bench" / "results"
CHILDREN_FILE = BENCH_DIR / "children.json"
PYTHON = sys.executable
if str(ROOT / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "scripts"))

import devstack  # noqa: E402

T = TypeVar("T")


class BenchError(RuntimeError):
    """The bench could not run (a service did not start, a deadline passed)."""


def wait_for(predicate: Callable[[], T | None], *, timeout: float, interval: float = 0.05,
             what: str = "condition") -> T:
    """Poll with a deadline until the predicate returns something truthy; return that, or
    raise BenchError when the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (q in 0..100)."""
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def summarise_ms(samples: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/p99.9/max/mean of durations given in seconds, reported in milliseconds."""
    ordered = sorted(samples)
    if not ordered:
        return {}
    ms = {f"p{q:g}": percentile(ordered, q) * 1000 for q in (50, 90, 99, 99.9)}
    ms["max"] = ordered[-1] * 1000
    ms["mean"] = sum(ordered) / len(ordered) * 1000
    return {k: round(v, 2) for k, v in ms.items()}


# --- CPU accounting ---------------------------------------------------------------------------
# The machine may be shared: a figure means little without how busy the CPUs were and how much
# of that was this bench's own stack (bench process, worker, gunicorn, private servers).

# Roots of the process trees that belong to the bench, by label; a child that is itself a
# root (the worker and gunicorn are children of the bench process) is counted under its own.
OWN_ROOTS: dict[int, str] = {os.getpid(): "bench"}
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies over all CPUs since boot, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = fields
    busy = user + nice + system + irq + softirq + steal
    return busy, busy + idle + iowait


def _own_ticks() -> dict[str, int]:
    """CPU jiffies per labelled process tree (live processes plus their reaped children)."""
    table: dict[int, tuple[int, int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            rest = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        table[int(entry.name)] = (int(rest[1]), sum(int(v) for v in rest[11:15]))
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    totals = dict.fromkeys(OWN_ROOTS.values(), 0)
    for root, label in list(OWN_ROOTS.items()):
        todo = [root] if root in table else []
        while todo:
            pid = todo.pop()
            totals[label] += table[pid][1]
            todo.extend(c for c in children.get(pid, []) if c not in OWN_ROOTS)
    return totals


class CpuMeter:
    """Cores in use during a phase: the whole machine, each part of this bench's stack (bench
    process, worker, gunicorn, private PostgreSQL and Redis), and everything else."""

    def __init__(self) -> None:
        self.available = Path("/proc/stat").exists()
        self._start = time.perf_counter()
        self._machine = _machine_ticks() if self.available else (0, 0)
        self._own = _own_ticks() if self.available else {}

    def stop(self) -> dict[str, Any]:
        elapsed = time.perf_counter() - self._start
        if not self.available or elapsed <= 0:
            return {}
        busy, _ = _machine_ticks()
        machine = (busy - self._machine[0]) / _TICK / elapsed
        now = _own_ticks()
        parts = {label: round((now.get(label, 0) - self._own.get(label, 0)) / _TICK / elapsed, 3)
                 for label in now}
        own = sum(parts.values())
        return {"cpus": os.cpu_count(), "elapsed_s": round(elapsed, 3),
                "machine_cores_busy": round(machine, 2),
                "bench_stack_cores": round(own, 2),
                # The bench process itself: producer / load generator and its polling.
                "bench_process_cores": round(parts.get("bench", 0.0), 2),
                "stack_cores_by_process": parts,
                "other_cores": round(max(0.0, machine - own), 2),
                "loadavg_1m": round(os.getloadavg()[0], 2)}


CONTENDED_CORES = 0.25


def contention_note(*cpus: dict[str, Any]) -> str | None:
    """A warning when other processes took a real share of the CPUs during a phase."""
    other = max((c.get("other_cores", 0.0) for c in cpus if c), default=0.0)
    if other < CONTENDED_CORES:
        return None
    return (f"WARNING: other processes on this machine used up to {other:.2f} of "
            f"{os.cpu_count()} cores meanwhile; rates and latencies are not those of an idle "
            "machine (the per-task CPU costs are the steadier figures)")


def service_cpu_ms_per_op(cpu: dict[str, Any], ops: int) -> dict[str, float] | None:
    """CPU milliseconds per operation spent by the system under test (worker, gunicorn,
    PostgreSQL, Redis when private; not the bench process), in total and by process."""
    if not cpu or ops <= 0:
        return None
    scale = cpu["elapsed_s"] * 1000 / ops
    parts = {label: round(cores * scale, 2)
             for label, cores in cpu["stack_cores_by_process"].items() if label != "bench"}
    return {"total": round(sum(parts.values()), 2), **parts}


def describe_service_cpu(per_op: dict[str, float] | None) -> str:
    if not per_op:
        return "n/a"
    parts = ", ".join(f"{k} {v:.2f}" for k, v in per_op.items() if k != "total")
    return f"{per_op['total']:.2f} ms ({parts})"


def describe_cpu(cpu: dict[str, Any]) -> str:
    if not cpu:
        return "cpu: n/a"
    return (f"cpu: {cpu['machine_cores_busy']:.2f} of {cpu['cpus']} cores busy "
            f"(bench stack {cpu['bench_stack_cores']:.2f} of which the bench process "
            f"{cpu['bench_process_cores']:.2f}; other processes {cpu['other_cores']:.2f}; "
            f"load {cpu['loadavg_1m']:.1f})")


def track_private_servers(data_dir: Path = BENCH_DIR) -> None:
    """Count the devstack servers under data_dir as part of the bench stack in CpuMeter."""
    OWN_ROOTS.update(_own_server_pids(data_dir))


def _own_server_pids(data_dir: Path = BENCH_DIR) -> dict[int, str]:
    """The private servers' pids (postmaster, redis) from their pid files under data_dir."""
    pids: dict[int, str] = {}
    state = devstack._read_state(data_dir / devstack.PG_STATE)
    candidates = {"redis": data_dir / "redis" / "redis.pid"}
    if state:
        candidates["postgres"] = Path(state["base"]) / "data" / "postmaster.pid"
    for label, path in candidates.items():
        with contextlib.suppress(OSError, ValueError, IndexError):
            pids[int(path.read_text().split()[0])] = label
    return pids


# --- services and the database ---------------------------------------------------------------


def _admin_url(url: str) -> tuple[str, str]:
    """(libpq URL of the server's `postgres` database, SQLAlchemy URL without a database)."""
    from sqlalchemy.engine import make_url  # noqa: PLC0415

    from app.config import normalise_database_url  # noqa: PLC0415

    parsed = make_url(normalise_database_url(url))
    admin = parsed.set(drivername="postgresql", database="postgres")
    return admin.render_as_string(hide_password=False), parsed.render_as_string(
        hide_password=False)


def create_database(server_url: str) -> str:
    """A fresh, uniquely named database on the server; returns its SQLAlchemy URL."""
    import psycopg  # noqa: PLC0415
    from sqlalchemy.engine import make_url  # noqa: PLC0415

    admin, base = _admin_url(server_url)
    name = f"fusion_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(base).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    import psycopg  # noqa: PLC0415
    from sqlalchemy.engine import make_url  # noqa: PLC0415

    admin, _ = _admin_url(url)
    name = make_url(url).database
    if not (name or "").startswith("fusion_bench_"):
        raise BenchError(f"refusing to drop {name!r}: not a bench database")
    with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def drop_leftover_databases(server_url: str) -> None:
    """Databases of earlier runs that were killed before they could drop theirs."""
    import psycopg  # noqa: PLC0415

    admin, _ = _admin_url(server_url)
    with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
        names = [row[0] for row in conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'fusion\\_bench\\_%'")]
        for name in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Stack:
    """Servers (the user's, or private ones under .fusion/bench), a fresh migrated database, the
    environment for child processes, and every child process; `close()` undoes all of it."""

    def __init__(self) -> None:
        self.env: dict[str, str] = {}
        self.started_private = False
        self.database_url: str | None = None
        self.children: list[Child] = []
        self._lock: IO[str] | None = None

    def start(self) -> dict[str, str]:
        BENCH_DIR.mkdir(parents=True, exist_ok=True)
        self._lock = (BENCH_DIR / "bench.lock").open("w")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BenchError(f"another bench run holds {BENCH_DIR / 'bench.lock'}") from None
        self._stop_orphans()

        server = os.environ.get("DATABASE_URL")
        if not server:
            self.started_private = True
            server = devstack.ensure_postgres(BENCH_DIR)
        broker = os.environ.get("CELERY_BROKER_URL")
        private_broker = not broker
        if private_broker:
            self.started_private = True
            broker = devstack.ensure_redis(BENCH_DIR)
            backend = broker.rsplit("/", 1)[0] + "/1"
        else:
            backend = os.environ.get("CELERY_RESULT_BACKEND") or broker
        assert broker is not None

        if self.started_private:
            track_private_servers(BENCH_DIR)
        if not os.environ.get("DATABASE_URL"):
            drop_leftover_databases(server)  # our private server only
        self.database_url = create_database(server)
        self.env = {
            "DATABASE_URL": self.database_url,
            "CELERY_BROKER_URL": broker,
            "CELERY_RESULT_BACKEND": backend,
            "LOG_LEVEL": "WARNING",
            # Bench parties have no KYC cases; the gate still runs every check (and costs the
            # same), it just does not hold them for a missing approval.
            "KYC_REQUIRED_FOR_SETTLEMENT": "false",
        }
        os.environ.update(self.env)
        from app.config import get_settings  # noqa: PLC0415

        get_settings.cache_clear()
        _quiet_app_logging()
        from alembic import command  # noqa: PLC0415
        from alembic.config import Config  # noqa: PLC0415

        command.upgrade(Config(str(ROOT / "alembic.ini")), "heads")  # areas may branch
        if private_broker:
            # Ours alone: leftovers of an interrupted run point at a dropped database.
            import redis  # noqa: PLC0415

            for url in {broker, backend}:
                redis.Redis.from_url(url).flushdb()
        return self.env

    def spawn(self, child: Child) -> Child:
        self.children.append(child)
        try:
            child.start({**os.environ, **self.env})
        finally:
            self._record_children()
        return child

    def _record_children(self) -> None:
        live = [{"pid": c.process.pid, "marker": c.marker} for c in self.children
                if c.process is not None and c.process.poll() is None]
        CHILDREN_FILE.write_text(json.dumps(live))

    @staticmethod
    def _stop_orphans() -> None:
        """Stop the worker/gunicorn of an earlier run that was killed outright (SIGKILL): they
        would otherwise keep consuming from the private broker. Only the process groups that
        run recorded, and only if their command line still carries its marker."""
        try:
            recorded = json.loads(CHILDREN_FILE.read_text())
        except (OSError, ValueError):
            return
        for entry in recorded:
            pid, marker = int(entry["pid"]), str(entry["marker"]).encode()
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if marker and marker in cmdline:
                with contextlib.suppress(OSError):
                    print(f"stopping leftover bench process group {pid}", file=sys.stderr)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
        CHILDREN_FILE.unlink(missing_ok=True)

    def close(self) -> None:
        """Stop and remove everything; a second Ctrl-C does not cut the cleanup short (every
        step is bounded by its own timeout)."""
        sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in sigs}
        try:
            self._close()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _close(self) -> None:
        errors: list[str] = []
        for child in reversed(self.children):
            try:
                child.stop()
            except Exception as exc:  # keep cleaning up; report at the end
                errors.append(f"stop {child.name}: {exc}")
        if self.children and not any(c.process and c.process.poll() is None
                                     for c in self.children):
            CHILDREN_FILE.unlink(missing_ok=True)
        try:
            from app.persistence.db import get_engine  # noqa: PLC0415

            get_engine().dispose()
        except Exception as exc:
            errors.append(f"dispose engine: {exc}")
        if self.database_url:
            try:
                drop_database(self.database_url)
            except Exception as exc:
                errors.append(f"drop database: {exc}")
        if self.started_private:
            try:
                devstack.stop_all(BENCH_DIR)
            except Exception as exc:
                errors.append(f"stop private servers: {exc}")
        if self._lock is not None:
            self._lock.close()
        if errors:
            with contextlib.suppress(OSError):
                print("cleanup problems: " + "; ".join(errors), file=sys.stderr)


def _quiet_app_logging() -> None:
    """The app logs through structlog; unconfigured, it would print every INFO line (an access
    line per in-process request, say) into the bench's output."""
    try:
        from app.logs import configure_logging  # noqa: PLC0415

        configure_logging("bench", "WARNING", json=False)
    except Exception as exc:  # the figures do not depend on it
        print(f"note: could not configure app logging: {exc}", file=sys.stderr)


@contextlib.contextmanager
def signals_as_interrupt() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP unwind as KeyboardInterrupt, so the `finally` that stops
    everything runs."""
    def raise_interrupt(signum: int, _: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    # SIGINT too: a shell without job control starts background commands with it ignored.
    previous = {s: signal.signal(s, raise_interrupt)
                for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# --- child processes ------------------------------------------------------------------------


class Child:
    """A subprocess in its own process group (so a stop reaches pool children too)."""

    name = "child"
    label = "child"  # in CPU accounting
    # Readiness is progress-based: the wait goes on while the child's log grows or its process
    # tree uses CPU (a start behind a backlog, on a busy machine), and gives up only after
    # `stall_timeout` seconds without either, or after `start_timeout` in all.
    stall_timeout = 60.0
    start_timeout = 600.0

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        # A string unique to this child's command line, to recognise it after a crash.
        self.marker = ""

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    def start(self, env: dict[str, str]) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(self.command(), cwd=ROOT, env=env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        OWN_ROOTS[self.process.pid] = self.label  # CPU accounting
        self.wait_ready()

    def wait_ready(self) -> None:
        started = last_progress = time.monotonic()
        seen = self._progress()
        while True:
            self.check_alive()
            if self.ready():
                return
            now, progress = time.monotonic(), self._progress()
            if progress != seen:
                seen, last_progress = progress, now
            if now - last_progress > self.stall_timeout or now - started > self.start_timeout:
                raise BenchError(
                    f"{self.name} not ready after {now - started:.0f} s ({now - last_progress:.0f}"
                    f" s without progress); see {self.log_path}\n{self.tail()}")
            time.sleep(0.2)

    def _progress(self) -> tuple[int, int]:
        """(log size, CPU jiffies of the child's process tree): either moving means it is
        still starting, not stuck."""
        try:
            size = self.log_path.stat().st_size
        except OSError:
            size = 0
        return size, _own_ticks().get(self.label, 0)

    def check_alive(self) -> None:
        if self.process is None or self.process.poll() is not None:
            raise BenchError(f"{self.name} exited; see {self.log_path}\n{self.tail()}")

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


class Worker(Child):
    """`celery -A tasks worker -Q settlement -c 2 -P prefork`, as tests/support.py runs it.

    With LOG_LEVEL=WARNING the worker does not log "ready.", so readiness is a remote-control
    ping of this node: it travels on the broadcast exchange, not the task queue, so a worker
    started behind a backlog (after the API-alone load) answers as soon as it consumes."""

    name = "celery worker"
    label = "worker"

    def __init__(self, log_path: Path, *, concurrency: int = 2, queues: str = "settlement",
                 env: dict[str, str] | None = None) -> None:
        super().__init__(log_path)
        self.concurrency, self.queues = concurrency, queues
        self.extra_env = dict(env or {})
        self.node = f"bench-{uuid.uuid4().hex[:6]}"
        self.marker = f"{self.node}@"

    def command(self) -> list[str]:
        return [PYTHON, "-m", "celery", "-A", "tasks", "worker", "-Q", self.queues,
                "-c", str(self.concurrency), "-P", "prefork", "-n", f"{self.node}@%h",
                "--without-gossip", "--without-mingle", "-l", "WARNING"]

    def start(self, env: dict[str, str]) -> None:
        super().start({**env, **self.extra_env})

    def ready(self) -> bool:
        from tasks.celery_app import celery_app  # noqa: PLC0415

        node = f"{self.node}@{socket.gethostname()}"
        return bool(celery_app.control.ping(destination=[node], timeout=1.0))


class Gunicorn(Child):
    name = "gunicorn"
    label = "gunicorn"

    def __init__(self, log_path: Path, port: int, *, workers: int = 2, threads: int = 4) -> None:
        super().__init__(log_path)
        self.port, self.workers, self.threads = port, workers, threads
        self.marker = f"127.0.0.1:{port}"

    def command(self) -> list[str]:
        return [str(Path(PYTHON).parent / "gunicorn"), "-b", f"127.0.0.1:{self.port}",
                "-w", str(self.workers), "--threads", str(self.threads), "-k", "gthread",
                # gunicorn >= 25 otherwise binds ~/.gunicorn/gunicorn.ctl, shared by every
                # gunicorn of this user (another engineer's `make run`, say).
                "--no-control-socket", "web.wsgi:app"]

    def ready(self) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            conn.request("GET", "/healthz")
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()


def free_port() -> int:
    return int(devstack.free_port())


# --- seeding and integrity -------------------------------------------------------------------


def fund_accounts(prefix: str, count: int, amount: str, asset: str = "USD",
                  batch: int = 100) -> list[str]:
    """Deposit into `count` accounts in-process (accept, then settle in the same transaction)."""
    from datetime import UTC, datetime  # noqa: PLC0415

    from app.config import get_settings  # noqa: PLC0415
    from app.persistence.db import unit_of_work  # noqa: PLC0415
    from app.services import intake, settlement  # noqa: PLC0415

    decimals = get_settings().asset_decimals
    accounts = [f"{prefix}-{i:04d}" for i in range(count)]
    for start in range(0, count, batch):
        with unit_of_work() as session:
            for account in accounts[start:start + batch]:
                accepted = intake.request_deposit(session, decimals, account_id=account,
                                                  asset=asset, amount=amount)
                outcome = settlement.process_command(session, accepted.command_id,
                                                     datetime.now(UTC), get_settings())
                if outcome.status != "settled":
                    raise BenchError(f"deposit into {account} {outcome.status}: "
                                     f"{outcome.reason}")
    return accounts


LEDGER_CHECKS = {
    # Double entry: every asset's posted and pending balances sum to zero over all accounts.
    "unbalanced_assets": """
        SELECT count(*) FROM (
            SELECT asset FROM ledger_balances GROUP BY asset
            HAVING sum(credits_posted - debits_posted) <> 0
                OR sum(credits_pending - debits_pending) <> 0) AS a""",
    # Every balance row equals the sum of the transfers that touch it (nothing applied twice).
    "accounts_not_matching_transfers": """
        WITH flows AS (
            SELECT debit_account AS account_id, asset,
                   CASE WHEN status = 'posted' THEN amount ELSE 0 END AS dp, 0 AS cp,
                   CASE WHEN status = 'pending' THEN amount ELSE 0 END AS dq, 0 AS cq
              FROM ledger_transfers
            UNION ALL
            SELECT credit_account, asset, 0,
                   CASE WHEN status = 'posted' THEN amount ELSE 0 END, 0,
                   CASE WHEN status = 'pending' THEN amount ELSE 0 END
              FROM ledger_transfers),
        sums AS (SELECT account_id, asset, sum(dp) AS dp, sum(cp) AS cp, sum(dq) AS dq,
                        sum(cq) AS cq FROM flows GROUP BY account_id, asset)
        SELECT count(*) FROM ledger_balances b FULL JOIN sums s USING (account_id, asset)
         WHERE coalesce(b.debits_posted, 0) <> coalesce(s.dp, 0)
            OR coalesce(b.credits_posted, 0) <> coalesce(s.cp, 0)
            OR coalesce(b.debits_pending, 0) <> coalesce(s.dq, 0)
            OR coalesce(b.credits_pending, 0) <> coalesce(s.cq, 0)""",
    # One terminal event per command, however often its task was delivered.
    "commands_with_duplicate_outcome_events": """
        SELECT count(*) FROM (
            SELECT aggregate_id FROM outbox
             WHERE event_type IN ('command.settled', 'command.failed')
             GROUP BY aggregate_id HAVING count(*) > 1) AS d""",
    "transfers": "SELECT count(*) FROM ledger_transfers",
    # Deposits, collateral transfers and escrow creations each open exactly one transfer.
    "single_transfer_commands_settled": """
        SELECT count(*) FROM commands WHERE status = 'settled'
           AND type IN ('DEPOSIT', 'COLLATERAL_TRANSFER', 'ESCROW_CREATE')""",
    "commands_settled": "SELECT count(*) FROM commands WHERE status = 'settled'",
    "commands_failed": "SELECT count(*) FROM commands WHERE status = 'failed'",
    "commands_not_terminal": """
        SELECT count(*) FROM commands WHERE status NOT IN ('settled', 'failed')""",
    "terminal_events": """
        SELECT count(*) FROM outbox WHERE event_type IN ('command.settled', 'command.failed')""",
}


def ledger_check() -> dict[str, Any]:
    """Whole-database integrity; `ok` is true when every command settled exactly once."""
    from sqlalchemy import text  # noqa: PLC0415

    from app.persistence.db import get_engine  # noqa: PLC0415

    with get_engine().connect() as conn:
        # One snapshot for all the counts, so work still in flight cannot skew one against another.
        conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
        found: dict[str, Any] = {name: int(conn.execute(text(sql)).scalar_one())
                                 for name, sql in LEDGER_CHECKS.items()}
        conn.rollback()
    found["ok"] = (found["unbalanced_assets"] == 0
                   and found["accounts_not_matching_transfers"] == 0
                   and found["commands_with_duplicate_outcome_events"] == 0
                   and found["transfers"] == found["single_transfer_commands_settled"]
                   and found["terminal_events"]
                   == found["commands_settled"] + found["commands_failed"])
    return found


def queue_drained(queue: str = "settlement") -> bool:
    """Nothing waits on the queue (any of its priority lists) and nothing is delivered but
    unacknowledged: every task sent has run. A command settled by another task's unit of
    work still has its own task to run (and skip), and that work counts too."""
    import redis  # noqa: PLC0415

    from app.config import get_settings  # noqa: PLC0415

    client = redis.Redis.from_url(get_settings().celery_broker_url)
    try:
        lists = [k for k in client.scan_iter(match=f"{queue}*", count=1000)
                 if client.type(k) == b"list"]
        return not any(client.llen(k) for k in lists) and not client.hlen("unacked")
    finally:
        client.close()


def count_terminal(where: str, params: dict[str, Any]) -> tuple[int, int, int]:
    """(settled, failed, total) among the commands matching `where`."""
    from sqlalchemy import text  # noqa: PLC0415

    from app.persistence.db import get_engine  # noqa: PLC0415

    sql = text("SELECT count(*) FILTER (WHERE status = 'settled'), "
               "count(*) FILTER (WHERE status = 'failed'), count(*) "
               f"FROM commands WHERE {where}")
    with get_engine().connect() as conn:
        settled, failed, total = conn.execute(sql, params).one()
    return int(settled), int(failed), int(total)


def failure_reasons(where: str, params: dict[str, Any]) -> dict[str, int]:
    from sqlalchemy import text  # noqa: PLC0415

    from app.persistence.db import get_engine  # noqa: PLC0415

    sql = text(f"SELECT coalesce(reason, '?'), count(*) FROM commands WHERE {where} "
               "AND status = 'failed' GROUP BY 1 ORDER BY 2 DESC")
    with get_engine().connect() as conn:
        return {str(reason): int(n) for reason, n in conn.execute(sql, params)}
