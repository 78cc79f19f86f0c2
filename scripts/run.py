"""`make run`: the whole stack on this machine (API, one Celery worker group per queue, beat,
Flower); Ctrl-C stops it.

Uses DATABASE_URL / CELERY_BROKER_URL when set; otherwise starts private PostgreSQL and Redis
under FUSION_DATA_DIR (default .fusion) with scripts/devstack.py. The API listens on
127.0.0.1:FUSION_API_PORT (default 8000), Flower on 127.0.0.1:FLOWER_PORT (default 5555).
Logs go to <data dir>/logs/<process>.log.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
import traceback
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))
import devstack  # noqa: E402
import pubsub_emulator  # noqa: E402

from app.config import WORKER_QUEUES, get_settings  # noqa: E402 - read only once env is final

DATA_DIR = Path(os.environ.get("FUSION_DATA_DIR") or ROOT / ".fusion").resolve()
LOGS = DATA_DIR / "logs"
KEY_FILE = DATA_DIR / "dev-api-key"
FLOWER_PASSWORD_FILE = DATA_DIR / "flower-password"
READY_TIMEOUT = 120.0
STOP_TIMEOUT = 20.0


class RunError(Exception):
    """Startup or supervision failed; the message says what and where to look."""


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _show(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    return str(path)


def _tail(path: Path, lines: int = 20) -> str:
    text = path.read_text(errors="replace").splitlines()[-lines:]  # spawn() created it
    return f"--- last lines of {_show(path)} ---\n" + "\n".join(text)


def free_port(variable: str, default: str) -> int:
    raw = os.environ.get(variable, default).strip()
    if not raw.isdigit() or not 0 < (port := int(raw)) < 65536:
        raise RunError(f"{variable} must be a port number (1-65535), got {raw!r}")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn does
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise RunError(f"port {port} on 127.0.0.1 is already in use; set {variable} "
                          f"to a free port, e.g. {variable}={port + 1} make run") from None
    return port


def start_services() -> None:
    """Fill DATABASE_URL / CELERY_* in os.environ from private servers where they are unset."""
    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = devstack.ensure_postgres(DATA_DIR)
        print(f"  private PostgreSQL: {os.environ['DATABASE_URL']}")
    if not os.environ.get("CELERY_BROKER_URL"):
        os.environ["CELERY_BROKER_URL"] = url = devstack.ensure_redis(DATA_DIR)
        if not os.environ.get("CELERY_RESULT_BACKEND"):
            os.environ["CELERY_RESULT_BACKEND"] = url.removesuffix("/0") + "/1"
        print(f"  private Redis:      {url}")


def start_pubsub() -> bool:
    """PUBSUB_EMULATOR_HOST or a configured project if given, else a private emulator when
    gcloud is installed; without either the rest runs and the bridge does not."""
    if os.environ.get("PUBSUB_EMULATOR_HOST"):
        print(f"  Pub/Sub emulator:   {os.environ['PUBSUB_EMULATOR_HOST']} (given)")
    elif os.environ.get("GOOGLE_APPLICATION_CREDENTIALS") and os.environ.get("PUBSUB_PROJECT_ID"):
        print(f"  Pub/Sub project:    {os.environ['PUBSUB_PROJECT_ID']} (given)")
    else:
        try:
            host = pubsub_emulator.ensure_emulator(DATA_DIR / "pubsub")
        except pubsub_emulator.MissingBinary as exc:
            print(f"  Pub/Sub: not started ({exc}); the bridge and outbox relay stay off")
            return False
        os.environ["PUBSUB_EMULATOR_HOST"] = host
        print(f"  Pub/Sub emulator:   {host} (private)")
    done = subprocess.run([sys.executable, "-c", "from cli.main import cli; cli()", "pubsub",
                           "init"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=False)
    if done.returncode:
        raise RunError(f"pubsub init failed:\n{(done.stdout + done.stderr)[-800:]}")
    print("  Pub/Sub topics and subscriptions provisioned")
    return True


def migrate() -> None:
    cmd = [sys.executable, "-c", "from cli.main import cli; cli()", "db", "upgrade"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode:
        last = "\n".join((done.stdout + done.stderr).strip().splitlines()[-4:])
        raise RunError(f"migrations failed (fusion-prime db upgrade; check DATABASE_URL):\n{last}")
    print("  migrations: database at head")


def dev_api_key() -> str:
    """The stored development key if it still authenticates, else a new all-scopes key."""
    from app.persistence.db import unit_of_work  # noqa: PLC0415
    from app.services import apikeys  # noqa: PLC0415

    pepper = get_settings().api_key_pepper.get_secret_value()
    stored = KEY_FILE.read_text().strip() if KEY_FILE.exists() else ""
    with unit_of_work() as session:
        if stored and apikeys.authenticate(session, stored, pepper) is not None:
            return stored
        key = apikeys.create_api_key(session, name="make-run-dev", scopes=sorted(apikeys.SCOPES),
                                     pepper=pepper)
    fd = os.open(KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    KEY_FILE.chmod(0o600)  # in case the file existed with wider permissions
    print(f"  created a development API key (stored in {_show(KEY_FILE)})")
    return key


def flower_credentials() -> tuple[str, str, str]:
    """(user, password, where the password is kept): FLOWER_PASSWORD if set, else a password
    generated once and kept in <data dir>/flower-password (0600), like the dev API key."""
    settings = get_settings()
    user, password = settings.flower_user, settings.flower_password.get_secret_value()
    source = "FLOWER_PASSWORD"
    if not password:
        source = _show(FLOWER_PASSWORD_FILE)
        if FLOWER_PASSWORD_FILE.exists():
            password = FLOWER_PASSWORD_FILE.read_text().strip()
            FLOWER_PASSWORD_FILE.chmod(0o600)
        if not password:
            password = secrets.token_urlsafe(18)
            fd = os.open(FLOWER_PASSWORD_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(password + "\n")
            print(f"  created a Flower password (stored in {source})")
    # Flower splits FLOWER_BASIC_AUTH on commas (several user:password pairs) and the user
    # ends at the first colon.
    if "," in user + password or ":" in user or not user:
        raise RunError("FLOWER_USER must be non-empty without ':' or ',', and FLOWER_PASSWORD "
                       "without ','")
    return user, password, source


def worker_command(queue: str, host: str, level: str) -> list[str]:
    """One worker group: its queue only, autoscaled between its bounds (or a fixed pool when
    the bounds are equal), task events on for Flower."""
    group = get_settings().worker_group(queue)
    # On one host the group's pool autoscales between the bounds; CONCURRENCY is the fixed
    # pool of a Kubernetes pod, where KEDA scales pods instead (docker/k8s).
    pool = (["-c", str(group.autoscale_max)] if group.autoscale_min == group.autoscale_max
            else [f"--autoscale={group.autoscale_max},{group.autoscale_min}"])
    return [sys.executable, "-m", "celery", "-A", "tasks", "worker", "-Q", queue,
            "-n", f"{queue}@{host}", "-E", *pool, "--loglevel", level]


def commands(port: int, flower_port: int, host: str, *, pubsub: bool) -> dict[str, list[str]]:
    py, level = sys.executable, os.environ.get("LOG_LEVEL", "INFO").upper()
    celery = [py, "-m", "celery", "-A", "tasks"]
    # No control socket: its default path is shared by every gunicorn of this user.
    # The config file aggregates /metrics across workers and logs gunicorn's lines as JSON;
    # no access log: the app already logs one line per request, with its request id.
    cmds = {"api": [py, "-m", "gunicorn", "--config", "python:web.gunicorn_conf",
                    "--bind", f"127.0.0.1:{port}", "--workers", "2", "--no-control-socket",
                    "--graceful-timeout", "10", "web.wsgi:app"]}
    if pubsub:
        cmds["bridge"] = [py, "-m", "bridges"]
        cmds["outbox-relay"] = [py, "-m", "bridges", "outbox"]
    for queue in WORKER_QUEUES:
        cmds[f"worker-{queue}"] = worker_command(queue, host, level)
    # beat has no -E: it sends no task events; the workers' -E covers the tasks it schedules.
    # --quiet: beat's start-up banner is plain text; its log lines are JSON.
    cmds["beat"] = [*celery, "--quiet", "beat", "-s", str(DATA_DIR / "celerybeat-schedule"),
                    "-l", level]
    # The credentials go in FLOWER_BASIC_AUTH (see main), never on this logged command line.
    cmds["flower"] = [*celery, "flower", "--conf=tasks/flowerconfig.py", f"--port={flower_port}",
                      "--address=127.0.0.1"]
    return cmds


def spawn(name: str, args: list[str], extra_env: dict[str, str] | None = None) -> Child:
    env = {**os.environ, **(extra_env or {})}
    if name in ("bridge", "outbox-relay"):
        variable = "BRIDGE_METRICS_PORT" if name == "bridge" else "OUTBOX_METRICS_PORT"
        env[variable] = str(devstack.free_port())
        print(f"  {name} metrics: http://127.0.0.1:{env[variable]}/metrics")
    log = LOGS / f"{name}.log"
    with log.open("ab") as out:
        # A JSON line like the process's own, so the whole file parses as JSON lines.
        out.write((json.dumps({"timestamp": datetime.now(UTC).isoformat(), "level": "info",
                               "service": "run", "event": "process.start", "process": name,
                               "command": shlex.join(args)}) + "\n").encode())
        out.flush()
        # Own process group: Ctrl-C reaches only us, we stop each child once, and killpg
        # can reach the pool processes a dead child leaves behind.
        proc = subprocess.Popen(args, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, process_group=0, env=env)
    print(f"  {name:<18} pid {proc.pid:<8} log {_show(log)}")
    return Child(name, proc, log)


def check_alive(children: list[Child]) -> None:
    for child in children:
        code = child.proc.poll()
        if code is not None:
            how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited ({code})"
            raise RunError(f"{child.name} (pid {child.proc.pid}) {how} unexpectedly; stopping "
                           f"everything\n{_tail(child.log)}")


def wait_ready(children: list[Child], urls: list[str], nodes: list[str]) -> None:
    """Every URL answers 200 and every worker node answers a ping."""
    from tasks.celery_app import celery_app  # noqa: PLC0415 - reads settings at import

    waiting_urls, pending = list(urls), set(nodes)
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        check_alive(children)
        for url in list(waiting_urls):  # URLError (an HTTPError 503 too) is an OSError
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    waiting_urls.remove(url)
        if pending:
            for reply in celery_app.control.ping(destination=sorted(pending), timeout=1.0):
                pending -= set(reply)
        if not waiting_urls and not pending:
            return
        time.sleep(0.5)
    waiting = [f"{url} (200)" for url in waiting_urls] + [f"ping from {n}" for n in pending]
    raise RunError(f"not ready after {READY_TIMEOUT:.0f}s; still waiting for: "
                  f"{', '.join(waiting)}. See the logs in {_show(LOGS)}/")


def banner(port: int, key: str, children: list[Child], flower: tuple[int, str, str]) -> None:
    base, rule = f"http://127.0.0.1:{port}", "=" * 78
    flower_port, flower_user, password_source = flower
    flower_url = f"http://127.0.0.1:{flower_port}"
    password_hint = (f"cat {shlex.quote(password_source)}" if password_source != "FLOWER_PASSWORD"
                     else "the FLOWER_PASSWORD you set")
    groups = []
    for queue in WORKER_QUEUES:
        g = get_settings().worker_group(queue)
        groups.append(f"{queue} ({g.concurrency})" if g.autoscale_min == g.autoscale_max
                      else f"{queue} ({g.autoscale_min}-{g.autoscale_max})")
    auth = '-H "Authorization: Bearer $FUSION_API_KEY"'
    json_h = '-H "Content-Type: application/json"'
    deposit = '{"account_id":"alice","asset":"USD","amount":"100.00"}'
    escrow = ('{"payer":"alice","payee":"bob","amount":"25.00","asset":"USD",'
              '"release_delay_seconds":0,"approvals_required":1}')
    print(f"""
{rule}
Fusion Prime is running.
  API:          {base}
  API docs:     {base}/docs
  Dev API key:  {key}
                (stored in {_show(KEY_FILE)}, mode 0600; all scopes)
  Flower:       {flower_url}  user {flower_user!r}, password: {password_hint}
                Prometheus metrics: {flower_url}/metrics
  Workers:      one group per queue (pool processes):
                {", ".join(groups)}
                fusion-prime fleet status   (depth, consumers, throughput, advice)

Try it (a deposit, the balance once a worker has settled it, then an escrow):
  export FUSION_API_KEY="$(cat {shlex.quote(_show(KEY_FILE))})"
  curl -s -X POST {base}/v1/ledger/deposits {auth} {json_h} \\
       -d '{deposit}'
  curl -s {base}/v1/ledger/accounts/alice {auth}
  curl -s -X POST {base}/v1/escrows {auth} {json_h} \\
       -d '{escrow}'

Logs: {_show(LOGS)}/ ({', '.join(c.log.name for c in children)})
Ctrl-C to stop.
{rule}""", flush=True)


def stop_children(children: list[Child]) -> None:
    for child in reversed(children):
        if child.proc.poll() is None:
            child.proc.send_signal(signal.SIGTERM)  # warm: gunicorn and celery finish work
    deadline = time.monotonic() + STOP_TIMEOUT
    for child in children:
        try:
            child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"  {child.name} did not stop within {STOP_TIMEOUT:.0f}s; killing it")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.proc.pid, signal.SIGKILL)  # and any pool process it left behind
        print(f"  stopped {child.name} (exit {child.proc.wait()})")


def main() -> int:
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # console order
    # SIGINT too: a shell starts background jobs with SIGINT ignored, and Python keeps that.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    children: list[Child] = []
    # Stop the private servers at exit only if this run started them (none was up before).
    private = not (os.environ.get("DATABASE_URL") and os.environ.get("CELERY_BROKER_URL"))
    owned = private and not any(devstack.status(DATA_DIR).values())
    emulator_owned = (not os.environ.get("PUBSUB_EMULATOR_HOST")
                      and pubsub_emulator.status(DATA_DIR / "pubsub") is None)
    code = 0
    try:
        LOGS.mkdir(parents=True, exist_ok=True)
        print("Fusion Prime: starting")
        port = free_port("FUSION_API_PORT", "8000")
        start_services()
        migrate()
        pubsub = start_pubsub()
        key = dev_api_key()
        flower_port = free_port("FLOWER_PORT", "5555")
        flower_user, flower_password, password_source = flower_credentials()
        envs = {"flower": {"FLOWER_BASIC_AUTH": f"{flower_user}:{flower_password}"}}
        host = socket.gethostname()
        children.extend(spawn(name, args, envs.get(name)) for name, args in
                        commands(port, flower_port, host, pubsub=pubsub).items())
        wait_ready(children, [f"http://127.0.0.1:{port}/readyz",
                              f"http://127.0.0.1:{flower_port}/healthcheck"],
                   [f"{queue}@{host}" for queue in WORKER_QUEUES])
        banner(port, key, children, (flower_port, flower_user, password_source))
        while True:
            check_alive(children)
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nFusion Prime: stopping")
    except devstack.MissingBinary as exc:
        print(f"run: {exc}", file=sys.stderr)
        code = 2
    except (RunError, devstack.StartupError, pubsub_emulator.StartupError,
            subprocess.TimeoutExpired) as exc:
        print(f"run: {exc}", file=sys.stderr)
        code = 1
    except Exception:  # e.g. an unreachable DATABASE_URL: show it, but still clean up
        traceback.print_exc()
        code = 1
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup short
    stop_children(children)
    if emulator_owned and pubsub_emulator.status(DATA_DIR / "pubsub") is not None:
        pubsub_emulator.stop_emulator(DATA_DIR / "pubsub")
        print("  stopped the private Pub/Sub emulator")
    if owned and any(devstack.status(DATA_DIR).values()):
        try:
            devstack.stop_all(DATA_DIR)
        except (devstack.StartupError, subprocess.TimeoutExpired) as exc:
            print(f"run: could not stop the private servers: {exc}", file=sys.stderr)
            return code or 1
        print(f"  stopped private PostgreSQL/Redis (data kept in {_show(DATA_DIR)})")
    elif private and not owned:
        print("  left the private servers running (they were up before this run)")
    return code


if __name__ == "__main__":
    sys.exit(main())
