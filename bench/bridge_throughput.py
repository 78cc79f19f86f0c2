"""Pub/Sub bridge benchmark: inbound relay rate against a bare subscriber, outbox relay latency.

    .venv/bin/python bench/bridge_throughput.py [--messages 5000] [--rounds 2] [--profile 15]

Starts private PostgreSQL and Redis (scripts/devstack.py) and a private Pub/Sub emulator
(scripts/pubsub_emulator.py), all under .fusion/bench-bridge, a fresh database migrated to the
heads, and a fresh PUBSUB_PROJECT_ID provisioned with bridges.provision.init_pubsub. Then:

1. Inbound. N margin alerts (CloudEvents, ordering key = account, as the outbox relay publishes
   them) are published to alerts.margin.v1 up front; then the real bridge (`python -m bridges`)
   starts and the clock runs from the first to the N-th `bridge_messages_enqueued_total`
   {subscription="alerts"} on its metrics port (a message counts once the broker accepted its
   `alerts.record_event` task and it was acked; no Celery worker runs, the tasks are flushed
   afterwards). Against it: a bare subscriber process (SubscriberClient.subscribe, the same
   FlowControl, a callback that only acks) on a second identical batch, published the same way
   to a temporary subscription of the same topic created with the alerts subscription's
   settings. Each batch reaches exactly one subscription. Publish time is not counted. A small
   warm-up batch goes through a bare subscriber first (the emulator is a JVM). Target: bridge /
   bare >= 0.8.
2. Outbound. `python -m bridges outbox` runs; rows are committed one transaction each at a
   steady rate via app.services.outbox.record_event in unit_of_work, and received on a
   temporary ordered subscription of settlement.results.v1 (a streaming pull in this process):
   latency from the commit (and from the row's created_at) to receipt. Then a burst of rows
   committed in one transaction: the drain rate, to the relay's marks and to receipt.
3. In-process diagnostics: the InboundHandler path (route, Celery send, the whole callback)
   single-threaded against the private Redis, optionally with a cProfile (--profile N).

Every phase reports CPU like bench/common.py: cores busy on the machine, this bench's stack by
process (bridge or bare subscriber, emulator, Redis, PostgreSQL, relay, the bench process) and
everything else. Figures are printed and appended to bench/results/bridge.json. Everything
started is stopped and the database dropped at the end, also on Ctrl-C, SIGTERM or an error.
Only 127.0.0.1 is used. Exit status 0 when the run completed, 1 when it did not, 130 when
interrupted; with --strict, 3 when the ratio target is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import dataclasses
import fcntl
import io
import json
import os
import platform
import pstats
import queue
import signal
import subprocess
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT, ROOT / "scripts"):  # devstack.py and pubsub_emulator.py live in scripts/
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import devstack  # noqa: E402
import pubsub_emulator  # noqa: E402

from bench import common  # noqa: E402

DATA_DIR = ROOT / ".fusion" / "bench-bridge"
EMULATOR_DIR = DATA_DIR / "pubsub"
LOG_DIR = DATA_DIR / "logs"
CHILDREN_FILE = DATA_DIR / "children.json"
RESULTS_FILE = common.RESULTS_DIR / "bridge.json"
TARGET_RATIO = 0.8
ALERTS_SUBSCRIPTION = "alerts"
PYTHON = sys.executable


def cpu_per_op(cpu: dict[str, Any], ops: int) -> dict[str, float] | None:
    """common.service_cpu_ms_per_op without the processes that were idle or gone."""
    found = common.service_cpu_ms_per_op(cpu, ops)
    return {k: v for k, v in found.items() if v or k == "total"} if found else None


def stage(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


# --- messages ---------------------------------------------------------------------------------


def alert_batch(prefix: str, n: int, keys: int) -> list[tuple[bytes, dict[str, str], str]]:
    """N margin alerts as the outbox relay publishes them: CloudEvents binary mode, the account
    as ordering key (keys=0: no ordering key)."""
    batch = []
    for i in range(n):
        account = f"bench-acct-{i % max(keys, 1):04d}"
        event_id = f"{prefix}-{i:06d}"
        data = {
            "event_id": event_id, "event_type": "margin_warning", "account_id": account,
            "health_score": "42.00", "previous_health_score": "61.50", "status": "WARNING",
            "previous_status": "HEALTHY", "severity": "medium",
            "total_collateral_usd": "10000.00", "total_borrow_usd": "7000.00",
            "liquidation_price_drop_percent": "12.50",
            "message": f"{account}: margin warning, health score 42.00",
            "occurred_at": "2026-11-28T00:00:00+00:00"}
        attributes = {"ce-specversion": "1.0", "ce-id": event_id, "ce-type": "margin_warning",
                      "ce-source": "fusion-prime/outbox", "ce-time": "2026-11-28T00:00:00Z",
                      "content-type": "application/json"}
        body = json.dumps(data, separators=(",", ":")).encode()
        batch.append((body, attributes, account if keys else ""))
    return batch


def publish_batch(client: Any, topic: str, batch: list[tuple[bytes, dict[str, str], str]],
                  timeout: float = 120.0) -> float:
    """Publish and wait for every message id; returns the seconds it took."""
    started = time.monotonic()
    futures = [client.publish(topic, body, ordering_key=key, **attributes)
               for body, attributes, key in batch]
    deadline = started + timeout
    for future in futures:
        future.result(timeout=max(1.0, deadline - time.monotonic()))
    return time.monotonic() - started


# --- child processes --------------------------------------------------------------------------


def _start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


class Proc(common.Child):
    """A child in its own process group; start() does not wait (callers poll what they need)."""

    def __init__(self, name: str, label: str, command: list[str], log_path: Path,
                 env: dict[str, str] | None = None, *, capture: bool = False) -> None:
        super().__init__(log_path)
        self.name, self.label, self._command = name, label, command
        self.extra_env = env or {}
        self.capture = capture  # stdout to a pipe (JSON lines), stderr to the log

    def command(self) -> list[str]:
        return self._command

    def start(self, env: dict[str, str]) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command(), cwd=ROOT, env={**env, **self.extra_env},
                stdout=subprocess.PIPE if self.capture else log,
                stderr=log if self.capture else subprocess.STDOUT, start_new_session=True)
        common.OWN_ROOTS[self.process.pid] = self.label  # CPU accounting
        self.marker = _start_time(self.process.pid) or ""

    def stop(self) -> None:
        super().stop()
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()


def wait_healthy(child: Proc, port: int, timeout: float = 90.0) -> None:
    def healthy() -> bool:
        child.check_alive()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                return int(r.status) == 200
        except (OSError, urllib.error.URLError):
            return False

    common.wait_for(healthy, timeout=timeout, interval=0.1, what=f"{child.name} healthy")


def scrape(port: int) -> list[tuple[str, dict[str, str], float]] | None:
    """The Prometheus samples of a metrics endpoint, or None while it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            body = response.read().decode()
    except (OSError, urllib.error.URLError):
        return None
    samples = []
    for line in body.splitlines():
        if not line or line.startswith("#"):
            continue
        head, value = line.rsplit(" ", 1)
        name, _, rest = head.partition("{")
        labels = {}
        for part in rest.rstrip("}").split(","):
            if "=" in part:
                key, raw = part.split("=", 1)
                labels[key] = raw.strip('"')
        samples.append((name, labels, float(value)))
    return samples


def metric(samples: Iterable[tuple[str, dict[str, str], float]], name: str,
           **labels: str) -> float:
    return sum(value for sample, found, value in samples
               if sample == name and all(found.get(k) == v for k, v in labels.items()))


# --- the stack --------------------------------------------------------------------------------


class BridgeStack:
    """Private servers and emulator under .fusion/bench-bridge, a fresh database, a fresh Pub/Sub
    project, every child process and in-process client; close() undoes all of it."""

    def __init__(self) -> None:
        self.env: dict[str, str] = {}
        self.database_url: str | None = None
        self.broker_url = ""
        self.children: list[Proc] = []
        self.closers: list[tuple[str, Callable[[], None]]] = []
        self._lock: IO[str] | None = None
        self._servers = False
        self._emulator = False

    def start(self) -> dict[str, str]:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        self._lock = (DATA_DIR / "bench.lock").open("w")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            self._lock = None
            raise common.BenchError(f"another run holds {DATA_DIR / 'bench.lock'}") from None
        self._stop_orphans()

        self._servers = True
        server = devstack.ensure_postgres(DATA_DIR)
        broker = devstack.ensure_redis(DATA_DIR)
        backend = broker.rsplit("/", 1)[0] + "/1"
        common.track_private_servers(DATA_DIR)
        stage("starting the Pub/Sub emulator")
        self._emulator = True
        host = pubsub_emulator.ensure_emulator(EMULATOR_DIR)
        with contextlib.suppress(OSError, ValueError, KeyError):
            state = json.loads((EMULATOR_DIR / pubsub_emulator.STATE).read_text())
            common.OWN_ROOTS[int(state["pid"])] = "emulator"  # gcloud and its java child
        common.drop_leftover_databases(server)  # our private server only
        self.database_url = common.create_database(server)
        self.broker_url = broker
        self.env = {
            "DATABASE_URL": self.database_url, "CELERY_BROKER_URL": broker,
            "CELERY_RESULT_BACKEND": backend, "LOG_LEVEL": "WARNING",
            "PUBSUB_EMULATOR_HOST": host,
            "PUBSUB_PROJECT_ID": f"fusion-bench-{uuid.uuid4().hex[:8]}",
        }
        os.environ.update(self.env)
        from app.config import get_settings  # noqa: PLC0415

        get_settings.cache_clear()
        common._quiet_app_logging()
        from alembic import command  # noqa: PLC0415
        from alembic.config import Config  # noqa: PLC0415

        command.upgrade(Config(str(ROOT / "alembic.ini")), "heads")
        import redis  # noqa: PLC0415

        for url in {broker, backend}:
            redis.Redis.from_url(url).flushdb()  # ours alone
        return self.env

    def spawn(self, child: Proc) -> Proc:
        self.children.append(child)
        try:
            child.start({**os.environ, **self.env})
        finally:
            self._record_children()
        return child

    def stop_child(self, child: Proc) -> None:
        child.stop()
        self._record_children()

    def on_close(self, what: str, fn: Callable[[], None]) -> None:
        self.closers.append((what, fn))

    def _record_children(self) -> None:
        live = [{"pid": c.process.pid, "start": c.marker} for c in self.children
                if c.process is not None and c.process.poll() is None]
        CHILDREN_FILE.write_text(json.dumps(live))

    @staticmethod
    def _stop_orphans() -> None:
        """Process groups of an earlier run that was killed outright (same pid and start time)."""
        try:
            recorded = json.loads(CHILDREN_FILE.read_text())
        except (OSError, ValueError):
            return
        for entry in recorded:
            pid = int(entry["pid"])
            if entry.get("start") and _start_time(pid) == entry["start"]:
                print(f"stopping leftover bench process group {pid}", file=sys.stderr)
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
        CHILDREN_FILE.unlink(missing_ok=True)

    def close(self) -> None:
        sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in sigs}
        try:
            self._close()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _close(self) -> None:
        errors: list[str] = []

        def attempt(what: str, fn: Callable[[], None]) -> None:
            try:
                fn()
            except Exception as exc:  # keep cleaning up; report at the end
                errors.append(f"{what}: {type(exc).__name__}: {exc}")

        for child in reversed(self.children):
            attempt(f"stop {child.name}", child.stop)
        if self.children:
            attempt("children file", lambda: CHILDREN_FILE.unlink(missing_ok=True))
        for what, fn in reversed(self.closers):
            attempt(what, fn)
        if self.database_url:
            def drop() -> None:
                from app.persistence.db import get_engine  # noqa: PLC0415

                get_engine().dispose()
                assert self.database_url is not None
                common.drop_database(self.database_url)

            attempt("drop database", drop)
        if self._emulator:
            attempt("stop emulator", lambda: pubsub_emulator.stop_emulator(EMULATOR_DIR))
        if self._servers:
            attempt("stop private servers", lambda: devstack.stop_all(DATA_DIR))
        if self._lock is not None:
            self._lock.close()
        if errors:
            with contextlib.suppress(OSError):
                print("cleanup problems: " + "; ".join(errors), file=sys.stderr)


# --- 1. inbound -------------------------------------------------------------------------------


@dataclasses.dataclass
class Inbound:
    settings: Any
    stack: BridgeStack
    publisher: Any
    admin: Any  # SubscriberClient for creating and deleting subscriptions
    timeout: float

    @property
    def topic(self) -> str:
        from app.messaging.topology import ALERTS_MARGIN  # noqa: PLC0415
        from bridges.pubsub import topic_path  # noqa: PLC0415

        return topic_path(self.settings, ALERTS_MARGIN)

    def temp_subscription(self) -> str:
        """A subscription of the alerts topic with the alerts subscription's settings."""
        from app.messaging.topology import BY_NAME  # noqa: PLC0415
        from bridges.provision import _ensure_subscription  # noqa: PLC0415
        from bridges.pubsub import subscription_path  # noqa: PLC0415

        wanted = dataclasses.replace(BY_NAME[ALERTS_SUBSCRIPTION],
                                     name=f"bench-bare-{uuid.uuid4().hex[:8]}")
        line = _ensure_subscription(self.settings, self.admin, wanted, dead_letter=True)
        if "created" not in line:
            raise common.BenchError(f"temporary subscription: {line}")
        return subscription_path(self.settings, wanted.name)

    def delete(self, path: str) -> None:
        from google.api_core import exceptions  # noqa: PLC0415

        with contextlib.suppress(exceptions.NotFound):
            self.admin.delete_subscription(subscription=path)

    def broker_tasks(self) -> int:
        import redis  # noqa: PLC0415

        client = redis.Redis.from_url(self.stack.broker_url)
        return sum(int(client.llen(key)) for key in client.scan_iter(match="alerts*")
                   if client.type(key) == b"list")

    def flush_broker(self) -> None:
        import redis  # noqa: PLC0415

        redis.Redis.from_url(self.stack.broker_url).flushdb()

    # -- the bridge --------------------------------------------------------------------------

    def bridge_round(self, prefix: str, n: int, keys: int) -> dict[str, Any]:
        from bridges.provision import init_pubsub  # noqa: PLC0415
        from bridges.pubsub import subscription_path  # noqa: PLC0415

        lines = init_pubsub(self.settings)  # (re)creates the alerts subscription
        publish_s = publish_batch(self.publisher, self.topic, alert_batch(prefix, n, keys))
        port = common.free_port()
        child = Proc("bridge", "bridge", [PYTHON, "-m", "bridges"],
                     LOG_DIR / f"bridge-{prefix}.log", {"BRIDGE_METRICS_PORT": str(port)})
        spawned = time.monotonic()
        self.stack.spawn(child)
        first_at, first_count, meter = None, 0.0, None
        deadline = spawned + self.timeout
        polls = 0
        while True:
            child.check_alive()
            samples = scrape(port)
            now = time.monotonic()
            polls += 1
            count = (metric(samples, "bridge_messages_enqueued_total",
                            subscription=ALERTS_SUBSCRIPTION) if samples else 0.0)
            if count > 0 and first_at is None:
                first_at, first_count, meter = now, count, common.CpuMeter()
            if count >= n:
                break
            if now > deadline:
                raise common.BenchError(f"the bridge relayed {count:.0f} of {n} within "
                                        f"{self.timeout:.0f}s; see {child.log_path}\n"
                                        f"{child.tail()}")
            # Scraping costs the bridge a little CPU: coarse until the end is near.
            time.sleep(0.01 if count >= 0.9 * n else 0.05)
        end_at = now
        assert meter is not None and first_at is not None and samples is not None
        cpu = meter.stop()
        stats = {
            "received": metric(samples, "bridge_messages_received_total",
                               subscription=ALERTS_SUBSCRIPTION),
            "nacked": metric(samples, "bridge_messages_nacked_total"),
            "dead_lettered": metric(samples, "bridge_messages_dead_lettered_total"),
        }
        seconds = metric(samples, "bridge_enqueue_seconds_sum", subscription=ALERTS_SUBSCRIPTION)
        observed = metric(samples, "bridge_enqueue_seconds_count",
                          subscription=ALERTS_SUBSCRIPTION)
        self.stack.stop_child(child)
        in_broker = self.broker_tasks()
        self.flush_broker()
        self.delete(subscription_path(self.settings, ALERTS_SUBSCRIPTION))
        timed = n - first_count
        elapsed = end_at - first_at
        return {
            "messages": n, "publish_s": round(publish_s, 3),
            "timed_messages": int(timed), "elapsed_s": round(elapsed, 3),
            "per_s": round(timed / elapsed, 1) if elapsed > 0 else None,
            "from_spawn_s": round(end_at - spawned, 3),
            "per_s_from_spawn": round(n / (end_at - spawned), 1),
            "callback_ms_mean": round(seconds / observed * 1000, 3) if observed else None,
            "tasks_in_broker": in_broker, "polls": polls, **stats, "cpu": cpu,
            "cpu_ms_per_message": cpu_per_op(cpu, int(timed)),
            "subscription": next((line for line in lines if "(alerts.margin" in line
                                  and line.startswith(f"subscription {ALERTS_SUBSCRIPTION} ")),
                                 ""),
        }

    # -- the bare subscriber -----------------------------------------------------------------

    def bare_round(self, prefix: str, n: int, keys: int, *, label: str = "bare"
                   ) -> dict[str, Any]:
        path = self.temp_subscription()
        try:
            publish_s = publish_batch(self.publisher, self.topic, alert_batch(prefix, n, keys))
            result = self._run_bare(path, n, label, prefix)
        finally:
            self.delete(path)
        result["publish_s"] = round(publish_s, 3)
        return result

    def _run_bare(self, path: str, n: int, label: str, prefix: str) -> dict[str, Any]:
        command = [PYTHON, str(Path(__file__).resolve()), "--bare-subscriber", path,
                   "--expect", str(n), "--max-messages", str(self.settings.bridge_max_messages),
                   "--max-bytes", str(self.settings.bridge_max_bytes),
                   "--timeout", str(self.timeout)]
        child = Proc("bare subscriber", label, command, LOG_DIR / f"bare-{prefix}.log",
                     capture=True)
        spawned = time.monotonic()
        self.stack.spawn(child)
        assert child.process is not None and child.process.stdout is not None
        lines: queue.Queue[dict[str, Any]] = queue.Queue()
        stdout = child.process.stdout

        def read() -> None:
            with contextlib.suppress(ValueError, OSError):
                for raw in stdout:
                    with contextlib.suppress(ValueError):
                        lines.put(json.loads(raw))

        threading.Thread(target=read, name="bare-reader", daemon=True).start()
        meter: common.CpuMeter | None = None
        done: dict[str, Any] | None = None
        deadline = spawned + self.timeout + 15
        while done is None:
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                if child.process.poll() is not None and lines.empty():
                    raise common.BenchError(f"bare subscriber exited early; see "
                                            f"{child.log_path}\n{child.tail()}") from None
                if time.monotonic() > deadline:
                    raise common.BenchError("bare subscriber did not finish") from None
                continue
            if line.get("event") == "first":
                meter = common.CpuMeter()
            elif line.get("event") in ("done", "timeout"):
                done = line
        cpu = meter.stop() if meter is not None else {}
        self.stack.stop_child(child)
        if done["event"] != "done":
            raise common.BenchError(f"bare subscriber acked {done['count']} of {n} within "
                                    f"{self.timeout:.0f}s")
        elapsed = done["last"] - done["first"]
        timed = n - 1
        return {
            "messages": n, "acked": done["count"], "timed_messages": timed,
            "elapsed_s": round(elapsed, 3),
            "per_s": round(timed / elapsed, 1) if elapsed > 0 else None,
            "from_spawn_s": round(done["last"] - spawned, 3),
            "per_s_from_spawn": round(n / (done["last"] - spawned), 1),
            "process_cpu_s": done.get("cpu_s"), "cpu": cpu,
            "cpu_ms_per_message": cpu_per_op(cpu, timed),
        }


def bare_subscriber_main(args: argparse.Namespace) -> int:
    """Child mode: subscribe, ack every message, report first/last ack times as JSON lines."""
    from google.cloud import pubsub_v1  # noqa: PLC0415

    lock = threading.Lock()
    finished = threading.Event()
    state: dict[str, Any] = {"count": 0, "first": None, "last": None}

    def emit(**fields: Any) -> None:
        sys.stdout.write(json.dumps(fields) + "\n")
        sys.stdout.flush()

    def callback(message: Any) -> None:
        message.ack()
        with lock:
            state["count"] += 1
            now = time.monotonic()
            if state["first"] is None:
                state["first"], state["cpu0"] = now, time.process_time()
                emit(event="first", t=now)
            if state["count"] == args.expect:
                state["last"] = now
                state["cpu_s"] = round(time.process_time() - state["cpu0"], 3)
                finished.set()

    client = pubsub_v1.SubscriberClient()
    flow = pubsub_v1.types.FlowControl(max_messages=args.max_messages, max_bytes=args.max_bytes)
    future = client.subscribe(args.bare_subscriber, callback=callback, flow_control=flow)
    ok = finished.wait(args.timeout)
    with lock:
        emit(event="done" if ok else "timeout", count=state["count"], first=state["first"],
             last=state["last"], cpu_s=state.get("cpu_s"))
    future.cancel()
    with contextlib.suppress(Exception):
        future.result(timeout=10)
    client.close()
    return 0 if ok else 1


def run_inbound(args: argparse.Namespace, stack: BridgeStack) -> dict[str, Any]:
    from app.config import get_settings  # noqa: PLC0415
    from bridges.pubsub import publisher, subscriber, subscription_path  # noqa: PLC0415

    settings = get_settings()
    pub = publisher(settings)
    stack.on_close("stop publisher", pub.stop)
    admin = subscriber(settings)
    stack.on_close("close admin subscriber client", admin.close)
    bench = Inbound(settings, stack, pub, admin, args.timeout)
    # Each batch must reach one subscription only: the alerts subscription exists only during
    # the bridge's rounds (bridge_round recreates it before publishing, deletes it after).
    bench.delete(subscription_path(settings, ALERTS_SUBSCRIPTION))
    result: dict[str, Any] = {
        "messages": args.messages, "rounds": args.rounds, "ordering_keys": args.ordering_keys,
        "flow_control": {"max_messages": settings.bridge_max_messages,
                         "max_bytes": settings.bridge_max_bytes}}
    if args.warmup:
        stage(f"inbound warm-up: {args.warmup} messages through a bare subscriber")
        warm = bench.bare_round("warm", args.warmup, args.ordering_keys, label="warmup")
        result["warmup"] = {k: warm[k] for k in ("messages", "per_s", "publish_s")}
    rounds = []
    for r in range(1, args.rounds + 1):
        stage(f"inbound round {r}/{args.rounds}: bridge on {args.messages} margin alerts")
        bridge = bench.bridge_round(f"r{r}-bridge", args.messages, args.ordering_keys)
        print(f"  bridge: {bridge['per_s']:.0f} msg/s ({bridge['timed_messages']} in "
              f"{bridge['elapsed_s']:.2f} s; published in {bridge['publish_s']:.1f} s)",
              flush=True)
        stage(f"inbound round {r}/{args.rounds}: bare subscriber on {args.messages} messages")
        bare = bench.bare_round(f"r{r}-bare", args.messages, args.ordering_keys)
        print(f"  bare:   {bare['per_s']:.0f} msg/s ({bare['timed_messages']} in "
              f"{bare['elapsed_s']:.2f} s; published in {bare['publish_s']:.1f} s)", flush=True)
        rounds.append({"bridge": bridge, "bare": bare,
                       "ratio": round(bridge["per_s"] / bare["per_s"], 3)})
    result["rounds_detail"] = rounds

    def pooled(side: str) -> float:
        msgs = sum(r[side]["timed_messages"] for r in rounds)
        secs = sum(r[side]["elapsed_s"] for r in rounds)
        return round(float(msgs) / float(secs), 1)

    result["bridge_per_s"], result["bare_per_s"] = pooled("bridge"), pooled("bare")
    result["ratio"] = round(result["bridge_per_s"] / result["bare_per_s"], 3)
    result["ratio_ok"] = result["ratio"] >= TARGET_RATIO

    def cpu_mean(side: str) -> dict[str, float]:
        parts: dict[str, float] = {}
        for r in rounds:
            for k, v in (r[side]["cpu_ms_per_message"] or {}).items():
                parts[k] = parts.get(k, 0.0) + v / len(rounds)
        return {k: round(v, 3) for k, v in parts.items()}

    result["cpu_ms_per_message"] = {"bridge": cpu_mean("bridge"), "bare": cpu_mean("bare")}
    return result


# --- 2. outbound ------------------------------------------------------------------------------


class Observer:
    """A temporary ordered subscription on a topic, read by a streaming pull in this process;
    records the receipt time of every delivery (by ce-id) in arrival order."""

    def __init__(self, settings: Any, topic: str) -> None:
        from google.cloud import pubsub_v1  # noqa: PLC0415

        from bridges.pubsub import subscriber, subscription_path, topic_path  # noqa: PLC0415

        self.client = subscriber(settings)
        self.path = subscription_path(settings, f"bench-observe-{uuid.uuid4().hex[:8]}")
        self.client.create_subscription(request={
            "name": self.path, "topic": topic_path(settings, topic),
            "enable_message_ordering": True, "ack_deadline_seconds": 60})
        self.lock = threading.Lock()
        self.arrivals: list[tuple[str, str, float]] = []  # (ce-id, ordering key, time.time())
        self.first: dict[str, float] = {}
        flow = pubsub_v1.types.FlowControl(max_messages=1000)
        self.future = self.client.subscribe(self.path, callback=self._on_message,
                                            flow_control=flow)

    def _on_message(self, message: Any) -> None:
        now = time.time()
        message.ack()
        event_id = message.attributes.get("ce-id", "")
        with self.lock:
            self.arrivals.append((event_id, message.ordering_key, now))
            self.first.setdefault(event_id, now)

    def wait_for(self, ids: list[str], timeout: float) -> dict[str, float]:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                missing = sum(1 for i in ids if i not in self.first)
                if not missing:
                    return {i: self.first[i] for i in ids}
            if self.future.done():
                raise common.BenchError(f"observer stream ended: {self.future.exception()!r}")
            if time.monotonic() > deadline:
                raise common.BenchError(f"{missing} of {len(ids)} outbox events not received "
                                        f"within {timeout:.0f}s")
            time.sleep(0.02)

    def duplicates(self, ids: set[str]) -> int:
        with self.lock:
            return sum(1 for i, _, _ in self.arrivals if i in ids) - len(ids)

    def order_kept(self, expected: dict[str, list[str]]) -> bool:
        """Per aggregate, the first deliveries arrived in commit order."""
        wanted = {i for ids in expected.values() for i in ids}
        seen: dict[str, list[str]] = {}
        done: set[str] = set()
        with self.lock:
            for event_id, key, _ in self.arrivals:
                if event_id in wanted and event_id not in done:
                    done.add(event_id)
                    seen.setdefault(key, []).append(event_id)
        return all(seen.get(key) == ids for key, ids in expected.items())

    def close(self) -> None:
        from google.api_core import exceptions  # noqa: PLC0415

        self.future.cancel()
        with contextlib.suppress(Exception):
            self.future.result(timeout=10)
        with contextlib.suppress(exceptions.NotFound):
            self.client.delete_subscription(subscription=self.path)
        self.client.close()


def _outbox_row(session: Any, topic: str, i: int, tag: str) -> tuple[str, str]:
    from app.services.outbox import record_event  # noqa: PLC0415

    aggregate = f"bench-{tag}-cmd-{i // 2:06d}"  # accepted, then settled, per command
    event_type = "command.accepted" if i % 2 == 0 else "command.settled"
    event = record_event(session, topic=topic, event_type=event_type, aggregate_id=aggregate,
                         data={"command_id": aggregate, "type": "COLLATERAL_TRANSFER",
                               "status": event_type.split(".")[1], "asset": "USD",
                               "amount": "125.50", "from_account": "bench-acct-0001",
                               "to_account": "bench-acct-0002", "bench_seq": i})
    return event.id, aggregate


def _row_times(ids: list[str]) -> dict[str, tuple[float, float | None]]:
    """created_at and published_at (epoch seconds) of outbox rows."""
    from sqlalchemy import select  # noqa: PLC0415

    from app.persistence.db import unit_of_work  # noqa: PLC0415
    from app.persistence.models import OutboxEvent  # noqa: PLC0415

    found: dict[str, tuple[float, float | None]] = {}
    with unit_of_work() as session:
        for start in range(0, len(ids), 1000):
            rows = session.execute(select(OutboxEvent.id, OutboxEvent.created_at,
                                          OutboxEvent.published_at)
                                   .where(OutboxEvent.id.in_(ids[start:start + 1000])))
            for event_id, created, published in rows:
                found[event_id] = (created.timestamp(),
                                   published.timestamp() if published else None)
    return found


def run_outbound(args: argparse.Namespace, stack: BridgeStack) -> dict[str, Any]:
    from app.config import get_settings  # noqa: PLC0415
    from app.messaging.topology import SETTLEMENT_RESULTS  # noqa: PLC0415
    from app.persistence.db import unit_of_work  # noqa: PLC0415

    settings = get_settings()
    port = common.free_port()
    relay = stack.spawn(Proc("outbox relay", "relay", [PYTHON, "-m", "bridges", "outbox"],
                             LOG_DIR / "relay.log", {"OUTBOX_METRICS_PORT": str(port)}))
    wait_healthy(relay, port)
    observer = Observer(settings, SETTLEMENT_RESULTS)
    stack.on_close("close observer", observer.close)
    result: dict[str, Any] = {"topic": SETTLEMENT_RESULTS,
                              "relay_batch_size": settings.outbox_batch_size}

    # Warm-up: the relay's first publish opens its channel; the observer's stream settles.
    warm: list[str] = []
    for i in range(10):
        with unit_of_work() as session:
            warm.append(_outbox_row(session, SETTLEMENT_RESULTS, i, "warm")[0])
    observer.wait_for(warm, timeout=60)

    # Steady: one row per transaction at a fixed rate (open loop: due times, not sleeps).
    stage(f"outbound: {args.outbox_rows} rows at {args.outbox_rate:.0f}/s, one commit each")
    commits: dict[str, float] = {}
    lags: list[float] = []
    order: dict[str, list[str]] = {}
    meter = common.CpuMeter()
    start = time.monotonic() + 0.05
    for i in range(args.outbox_rows):
        due = start + i / args.outbox_rate
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        lags.append(max(0.0, -wait))
        with unit_of_work() as session:
            event_id, aggregate = _outbox_row(session, SETTLEMENT_RESULTS, i, "steady")
        commits[event_id] = time.time()
        order.setdefault(aggregate, []).append(event_id)
    ids = list(commits)
    received = observer.wait_for(ids, timeout=args.timeout)
    cpu = meter.stop()
    rows = _row_times(ids)
    from_commit = [received[i] - commits[i] for i in ids]
    from_created = [received[i] - rows[i][0] for i in ids]
    relay_marked = [published - created for created, published in (rows[i] for i in ids)
                    if published is not None]
    result["steady"] = {
        "rows": len(ids), "rate": args.outbox_rate,
        "commit_to_receipt_ms": common.summarise_ms(from_commit),
        "created_at_to_receipt_ms": common.summarise_ms(from_created),
        "created_at_to_marked_published_ms": common.summarise_ms(relay_marked),
        "commit_lag_ms": common.summarise_ms(lags),
        "duplicates": observer.duplicates(set(ids)), "order_kept": observer.order_kept(order),
        "cpu": cpu, "cpu_ms_per_row": cpu_per_op(cpu, len(ids)),
    }

    # Burst: many rows in one transaction, then drain.
    stage(f"outbound: burst of {args.burst} rows in one transaction")
    order = {}
    burst: list[str] = []
    meter = common.CpuMeter()
    with unit_of_work() as session:
        for i in range(args.burst):
            event_id, aggregate = _outbox_row(session, SETTLEMENT_RESULTS, i, "burst")
            burst.append(event_id)
            order.setdefault(aggregate, []).append(event_id)
    committed = time.time()
    received = observer.wait_for(burst, timeout=args.timeout)
    cpu = meter.stop()
    rows = _row_times(burst)
    last_receipt = max(received.values())
    marked = [published for _, published in rows.values() if published is not None]
    last_marked = max(marked) if marked else float("nan")
    from_commit = [received[i] - committed for i in burst]
    result["burst"] = {
        "rows": len(burst),
        "drain_to_receipt_s": round(last_receipt - committed, 3),
        "per_s_to_receipt": round(len(burst) / (last_receipt - committed), 1),
        "drain_to_marked_s": round(last_marked - committed, 3),
        "per_s_to_marked": round(len(marked) / (last_marked - committed), 1),
        "first_receipt_ms": round((min(received.values()) - committed) * 1000, 1),
        "commit_to_receipt_ms": common.summarise_ms(from_commit),
        "duplicates": observer.duplicates(set(burst)), "order_kept": observer.order_kept(order),
        "cpu": cpu, "cpu_ms_per_row": cpu_per_op(cpu, len(burst)),
    }
    stack.stop_child(relay)
    return result


# --- 3. in-process diagnostics ----------------------------------------------------------------


@dataclasses.dataclass
class FakeMessage:
    data: bytes
    attributes: dict[str, str]
    message_id: str
    ordering_key: str = ""
    acked: bool = False

    def ack(self) -> None:
        self.acked = True

    def nack(self) -> None:
        self.acked = False


def run_diagnostics(args: argparse.Namespace, stack: BridgeStack) -> dict[str, Any]:
    """The InboundHandler path single-threaded in this process, against the private Redis."""
    from app.logs import bind, clear  # noqa: PLC0415
    from app.messaging.routing import route  # noqa: PLC0415
    from bridges.group_send import GroupSender  # noqa: PLC0415
    from bridges.inbound import (  # noqa: PLC0415
        InboundHandler,
        celery_group_sender,
        inbox_recorder,
    )
    from tasks.celery_app import producer_only, send_routed  # noqa: PLC0415

    producer_only()  # as the bridge process does
    group = GroupSender(celery_group_sender(), record_group=inbox_recorder(timedelta(minutes=1)))
    n = args.diag_messages

    def messages(tag: str) -> list[FakeMessage]:
        return [FakeMessage(body, attributes, f"{tag}-{i}", key) for i, (body, attributes, key)
                in enumerate(alert_batch(f"diag-{tag}", n, args.ordering_keys))]

    def per_message_us(fn: Callable[[], None]) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        return ((time.perf_counter() - wall) / n * 1e6, (time.process_time() - cpu) / n * 1e6)

    handler = InboundHandler(ALERTS_SUBSCRIPTION, group)

    def handle(batch: list[FakeMessage]) -> None:
        """The callback for each, then wait until the group sender has acked all of them."""
        for m in batch:
            handler(m)
        deadline = time.monotonic() + args.timeout
        while not all(m.acked for m in batch):
            if time.monotonic() > deadline:
                raise common.BenchError("the group sender did not ack every message")
            time.sleep(0.001)

    handle(messages("warm")[:200])
    timings: dict[str, dict[str, float]] = {}
    batch = messages("route")

    def route_all() -> None:
        for m in batch:
            route(ALERTS_SUBSCRIPTION, m.data, dict(m.attributes), m.message_id)

    routed = [route(ALERTS_SUBSCRIPTION, m.data, dict(m.attributes), m.message_id)
              for m in messages("send")]

    def send_all() -> None:
        for r in routed:
            send_routed(r)

    def bind_all() -> None:
        for m in batch:
            bind(message_id=m.message_id, subscription=ALERTS_SUBSCRIPTION)
            clear("message_id", "subscription")

    from tasks.celery_app import SEND_RETRY_POLICY, celery_app  # noqa: PLC0415

    def send_with_repr() -> None:  # what send_routed costs when Celery need not saferepr kwargs
        for r in routed:
            celery_app.send_task(r.task_name, task_id=r.task_id, queue=r.queue,
                                 kwargs={"event": r.event, "message_id": r.event["message_id"]},
                                 retry=True, retry_policy=SEND_RETRY_POLICY, argsrepr="()",
                                 kwargsrepr=f"{{'message_id': {r.event['message_id']!r}}}")

    import redis  # noqa: PLC0415

    raw = redis.Redis.from_url(stack.broker_url)
    body = json.dumps({"kwargs": routed[0].event, "headers": {"id": routed[0].task_id}}).encode()

    def raw_lpush() -> None:  # the floor: one LPUSH round trip of a body of the same size
        for _ in routed:
            raw.lpush("bench-raw", body)

    def new_client() -> None:  # kombu's Redis transport builds a client object per publish
        for _ in routed:
            redis.Redis(connection_pool=raw.connection_pool)

    handled = messages("handler")

    def handle_all() -> None:
        handle(handled)

    for name, fn in (("route (decode + validate)", route_all),
                     ("celery send (send_routed)", send_all),
                     ("  same, kwargsrepr given", send_with_repr),
                     ("  raw redis LPUSH", raw_lpush),
                     ("  redis.Redis() per publish", new_client),
                     ("log context bind/clear", bind_all),
                     ("whole InboundHandler, grouped sends", handle_all)):
        wall, cpu = per_message_us(fn)
        timings[name] = {"wall_us": round(wall, 1), "cpu_us": round(cpu, 1)}
    result: dict[str, Any] = {"messages": n, "per_message": timings,
                              "acked": sum(m.acked for m in handled)}
    if args.profile:
        profiled = messages("profile")
        profiler = cProfile.Profile()
        profiler.enable()
        handle(profiled)
        profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(args.profile)
        out.write("\n--- by own time ---\n")
        stats.sort_stats("tottime").print_stats(args.profile)
        result["profile"] = out.getvalue()
    group.close()
    redis.Redis.from_url(stack.broker_url).flushdb()
    return result


# --- report -----------------------------------------------------------------------------------


def print_inbound(res: dict[str, Any]) -> None:
    print(f"\n== Inbound: bridge vs bare subscriber ({res['messages']} margin alerts per side "
          f"per round, {res['rounds']} rounds, {res['ordering_keys']} ordering keys, "
          f"FlowControl max_messages={res['flow_control']['max_messages']}) ==")
    for i, r in enumerate(res["rounds_detail"], 1):
        b, s = r["bridge"], r["bare"]
        print(f"  round {i}: bridge {b['per_s']:7.1f} msg/s ({b['timed_messages']} in "
              f"{b['elapsed_s']:.2f} s; from spawn {b['per_s_from_spawn']:.0f}/s), "
              f"bare {s['per_s']:7.1f} msg/s ({s['timed_messages']} in {s['elapsed_s']:.2f} s; "
              f"from spawn {s['per_s_from_spawn']:.0f}/s) -> ratio {r['ratio']:.3f}")
        print(f"    bridge {common.describe_cpu(b['cpu'])}")
        print(f"    bare   {common.describe_cpu(s['cpu'])}")
        print(f"    bridge: callback mean {b['callback_ms_mean']} ms, received "
              f"{b['received']:.0f}, nacked {b['nacked']:.0f}, dead-lettered "
              f"{b['dead_lettered']:.0f}, tasks in the broker {b['tasks_in_broker']}")
    verdict = "OK" if res["ratio_ok"] else "MISSED"
    print(f"  pooled: bridge {res['bridge_per_s']:.1f} msg/s, bare {res['bare_per_s']:.1f} msg/s"
          f" -> ratio {res['ratio']:.3f}  (target >= {TARGET_RATIO}: {verdict})")
    print("  CPU ms per message, system under test (bench process excluded; mean of rounds):")
    for side in ("bridge", "bare"):
        print(f"    {side:<6} {common.describe_service_cpu(res['cpu_ms_per_message'][side])}")
    cpus = [r[side]["cpu"] for r in res["rounds_detail"] for side in ("bridge", "bare")]
    if note := common.contention_note(*cpus):
        print(f"  {note}")


def print_outbound(res: dict[str, Any]) -> None:
    def row(name: str, d: dict[str, float]) -> str:
        return (f"    {name:<34} p50 {d.get('p50', 0):8.1f}  p90 {d.get('p90', 0):8.1f}  "
                f"p99 {d.get('p99', 0):8.1f}  max {d.get('max', 0):8.1f}  "
                f"mean {d.get('mean', 0):8.1f}")

    s, b = res["steady"], res["burst"]
    print(f"\n== Outbound: outbox relay -> {res['topic']} (relay batch "
          f"{res['relay_batch_size']}) ==")
    print(f"  steady: {s['rows']} rows at {s['rate']:.0f}/s, one transaction each (ms):")
    print(row("commit -> receipt", s["commit_to_receipt_ms"]))
    print(row("created_at -> receipt", s["created_at_to_receipt_ms"]))
    print(row("created_at -> marked published", s["created_at_to_marked_published_ms"]))
    print(row("commit lag behind schedule", s["commit_lag_ms"]))
    print(f"    duplicates {s['duplicates']}, order per aggregate kept {s['order_kept']}; "
          f"{common.describe_cpu(s['cpu'])}")
    print(f"    CPU per row: {common.describe_service_cpu(s['cpu_ms_per_row'])}")
    print(f"  burst: {b['rows']} rows in one transaction: all received after "
          f"{b['drain_to_receipt_s']:.2f} s = {b['per_s_to_receipt']:.0f} rows/s (all marked "
          f"published after {b['drain_to_marked_s']:.2f} s = {b['per_s_to_marked']:.0f} rows/s;"
          f" first receipt {b['first_receipt_ms']:.0f} ms)")
    print(row("commit -> receipt", b["commit_to_receipt_ms"]))
    print(f"    duplicates {b['duplicates']}, order per aggregate kept {b['order_kept']}; "
          f"{common.describe_cpu(b['cpu'])}")
    print(f"    CPU per row: {common.describe_service_cpu(b['cpu_ms_per_row'])}")
    if note := common.contention_note(s["cpu"], b["cpu"]):
        print(f"  {note}")


def print_diagnostics(res: dict[str, Any]) -> None:
    print(f"\n== InboundHandler in-process, single thread ({res['messages']} messages each) ==")
    for name, t in res["per_message"].items():
        print(f"  {name:<38} {t['wall_us']:8.1f} us wall, {t['cpu_us']:8.1f} us CPU per message")
    if "profile" in res:
        print(res["profile"])


def append_results(path: Path, results: dict[str, Any]) -> None:
    history: list[Any] = []
    with contextlib.suppress(OSError, ValueError):
        loaded = json.loads(path.read_text())
        history = loaded if isinstance(loaded, list) else [loaded]
    history.append(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(history, indent=2, default=str) + "\n")


# --- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000, help="inbound batch size per side")
    parser.add_argument("--rounds", type=int, default=2, help="bridge + bare rounds")
    parser.add_argument("--warmup", type=int, default=1000, help="warm-up messages (0: none)")
    parser.add_argument("--ordering-keys", type=int, default=50,
                        help="distinct ordering keys (accounts) of the alerts; 0: no key")
    parser.add_argument("--outbox-rows", type=int, default=500, help="steady outbox rows")
    parser.add_argument("--outbox-rate", type=float, default=50.0, help="steady commits per s")
    parser.add_argument("--burst", type=int, default=5000, help="outbox rows in one transaction")
    parser.add_argument("--diag-messages", type=int, default=1000)
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="also print the top N cProfile entries of the InboundHandler path")
    parser.add_argument("--timeout", type=float, default=180.0, help="bound of each phase, s")
    parser.add_argument("--skip", choices=["inbound", "outbound", "diagnostics"],
                        action="append", default=[])
    parser.add_argument("--strict", action="store_true", help="exit 3 when the ratio is missed")
    parser.add_argument("--output", type=Path, default=RESULTS_FILE)
    # Child mode: the bare subscriber (internal).
    parser.add_argument("--bare-subscriber", metavar="SUBSCRIPTION", help=argparse.SUPPRESS)
    parser.add_argument("--expect", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--max-messages", type=int, default=200, help=argparse.SUPPRESS)
    parser.add_argument("--max-bytes", type=int, default=64 * 1024 * 1024,
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not (10 <= args.messages <= 50_000 and 1 <= args.rounds <= 5
            and 0 <= args.warmup <= 20_000 and 0 <= args.ordering_keys <= 10_000):
        parser.error("--messages 10..50000, --rounds 1..5, --warmup 0..20000, "
                     "--ordering-keys 0..10000")
    if not (1 <= args.outbox_rows <= 20_000 and 1 <= args.outbox_rate <= 1000
            and 1 <= args.burst <= 50_000 and 10 <= args.diag_messages <= 20_000):
        parser.error("--outbox-rows 1..20000, --outbox-rate 1..1000, --burst 1..50000, "
                     "--diag-messages 10..20000")
    if not (5 <= args.timeout <= 900):
        parser.error("--timeout 5..900")
    return args


def bench(args: argparse.Namespace, stack: BridgeStack, results: dict[str, Any]) -> None:
    stage("starting private PostgreSQL, Redis and Pub/Sub emulator (.fusion/bench-bridge)")
    env = stack.start()
    from app.config import get_settings  # noqa: PLC0415
    from bridges.provision import init_pubsub  # noqa: PLC0415

    lines = init_pubsub(get_settings())
    results["services"] = {"emulator": env["PUBSUB_EMULATOR_HOST"],
                           "project": env["PUBSUB_PROJECT_ID"],
                           "database": env["DATABASE_URL"].rsplit("/", 1)[-1],
                           "provisioned": lines}
    stage(f"database {results['services']['database']} migrated; project "
          f"{env['PUBSUB_PROJECT_ID']} provisioned ({len(lines)} resources)")
    if "inbound" not in args.skip:
        results["inbound"] = run_inbound(args, stack)
        print_inbound(results["inbound"])
    if "outbound" not in args.skip:
        results["outbound"] = run_outbound(args, stack)
        print_outbound(results["outbound"])
    if "diagnostics" not in args.skip:
        stage("in-process InboundHandler diagnostics")
        results["diagnostics"] = run_diagnostics(args, stack)
        print_diagnostics(results["diagnostics"])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.bare_subscriber:
        return bare_subscriber_main(args)
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                   if k not in ("bare_subscriber", "expect", "max_messages", "max_bytes")},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(),
                    "loadavg_at_start": [round(v, 2) for v in os.getloadavg()]},
    }
    stack = BridgeStack()
    status = 0
    started = time.monotonic()
    try:
        with common.signals_as_interrupt():
            try:
                bench(args, stack, results)
            finally:
                with contextlib.suppress(OSError):
                    stage("stopping everything the bench started")
                stack.close()
    except KeyboardInterrupt:
        results["error"] = "interrupted"
        status = 130
    except common.BenchError as exc:
        results["error"] = str(exc)
        status = 1
    except Exception as exc:  # report it, and still write what was measured
        results["error"] = f"{type(exc).__name__}: {exc}"
        results["traceback"] = traceback.format_exc()
        status = 1
    results["wall_s"] = round(time.monotonic() - started, 1)
    inbound = results.get("inbound")
    if status == 0 and args.strict and inbound and not inbound["ratio_ok"]:
        status = 3
    append_results(args.output, results)
    with contextlib.suppress(OSError):
        if "traceback" in results:
            print(results["traceback"], file=sys.stderr)
        if status == 130:
            print("\ninterrupted; everything the bench started is stopped", file=sys.stderr)
        elif "error" in results:
            print(f"\nbench failed: {results['error']}", file=sys.stderr)
        if inbound:
            print(f"\nsummary: inbound ratio {inbound['ratio']:.3f} (target >= {TARGET_RATIO}"
                  f": {'OK' if inbound['ratio_ok'] else 'MISSED'}), wall "
                  f"{results['wall_s']:.0f} s")
        print(f"results appended to {args.output}")
    return status


if __name__ == "__main__":
    sys.exit(main())
