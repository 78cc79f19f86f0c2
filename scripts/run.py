"""`make run`: the whole stack on this machine (API, one Celery worker group per queue, beat,
Flower); Ctrl-C stops it.

Uses DATABASE_URL / CELERY_BROKER_URL when set; otherwise starts private PostgreSQL and Redis
under FUSION_DATA_DIR (default .fusion) with scripts/devstack.py. The API listens on
127.0.0.1:FUSION_API_PORT (default 8000), Flower on 127.0.0.1:FLOWER_PORT (default 5555).
Logs go to <data dir>/logs/<process>.log.
"""

from __future__ import annotations

import contextlib
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
from pathlib import Path
from types import FrameType
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))
import devstack  # noqa: E402
import pubsub_emulator  # noqa: E402
import run_banner  # noqa: E402
import run_ports  # noqa: E402
import runlock  # noqa: E402
from supervise import GaveUp, RestartPolicy, Supervisor  # noqa: E402

from app.config import WORKER_QUEUES, get_settings  # noqa: E402 - read only once env is final

DATA_DIR = Path(os.environ.get("FUSION_DATA_DIR") or ROOT / ".fusion").resolve()
LOGS = DATA_DIR / "logs"
KEY_FILE = DATA_DIR / "dev-api-key"
ENV_FILE = DATA_DIR / "env.sh"
FLOWER_PASSWORD_FILE = DATA_DIR / "flower-password"
CONSOLE_SECRET_FILE = DATA_DIR / "console-secret"
READY_TIMEOUT = 120.0
STOP_TIMEOUT = 20.0


class RunError(Exception):
    """Startup or supervision failed; the message says what and where to look."""


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _show(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    return str(path)


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


def console_secret() -> str:
    """CONSOLE_SECRET_KEY if set, else a random one generated once and kept in
    <data dir>/console-secret (0600): the console's session cookies are signed with it, so it
    must not be guessable by anyone who knows the database URL."""
    given = get_settings().console_secret_key.get_secret_value()
    if given:
        return given
    if CONSOLE_SECRET_FILE.exists():
        CONSOLE_SECRET_FILE.chmod(0o600)
        kept = CONSOLE_SECRET_FILE.read_text().strip()
        if kept:
            return kept
    secret = secrets.token_urlsafe(32)
    fd = os.open(CONSOLE_SECRET_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    return secret


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


def child_envs(ports: run_ports.Ports, flower_auth: str,
               console_key: str = "") -> dict[str, dict[str, str]]:
    return {"flower": {"FLOWER_BASIC_AUTH": flower_auth},
            "api": {"CONSOLE_SECRET_KEY": console_key} if console_key else {},
            "bridge": {"BRIDGE_METRICS_PORT": str(ports.bridge_metrics)},
            "outbox-relay": {"OUTBOX_METRICS_PORT": str(ports.outbox_metrics)}}


STACK_VARIABLES = ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND",
                   "PUBSUB_EMULATOR_HOST", "PUBSUB_PROJECT_ID")


def write_env_file(extra: dict[str, str], variables: tuple[str, ...] = STACK_VARIABLES) -> None:
    """What the CLI (cli/stack.py) and a second shell read to reach this stack."""
    values = {k: os.environ[k] for k in variables if os.environ.get(k)} | extra
    text = ("# Written by make run for this checkout's stack; `. .fusion/env.sh` to use it.\n"
            + "".join(f"export {k}={shlex.quote(v)}\n" for k, v in values.items()))
    fd = os.open(ENV_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def wait_ready(supervisor: Supervisor, urls: list[str], nodes: list[str]) -> None:
    """Every URL answers 200 and every worker node answers a ping."""
    from tasks.celery_app import celery_app  # noqa: PLC0415 - reads settings at import

    waiting_urls, pending = list(urls), set(nodes)
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        supervisor.check_alive()
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


def worker_groups() -> list[str]:
    groups = []
    for queue in WORKER_QUEUES:
        g = get_settings().worker_group(queue)
        groups.append(f"{queue} ({g.concurrency})" if g.autoscale_min == g.autoscale_max
                      else f"{queue} ({g.autoscale_min}-{g.autoscale_max})")
    return groups


def restart_policy() -> RestartPolicy:
    return RestartPolicy(max_restarts=int(os.environ.get("FUSION_RUN_MAX_RESTARTS", "5")),
                         window_seconds=float(os.environ.get("FUSION_RUN_RESTART_WINDOW", "300")))


def _stop_requested_again(signum: int, frame: FrameType | None) -> None:
    SUPERVISOR.hurry = True


SUPERVISOR = Supervisor(LOGS, cwd=ROOT, policy=restart_policy())


def run(lock: IO[str]) -> None:
    print("Fusion Prime: starting")
    ports = run_ports.plan()  # every port checked before anything starts
    start_services()
    migrate()
    pubsub = start_pubsub()
    key = dev_api_key()
    flower_user, flower_password, password_source = flower_credentials()
    SUPERVISOR.serve_metrics(ports.run_metrics)
    envs = child_envs(ports, f"{flower_user}:{flower_password}", console_secret())
    host = socket.gethostname()
    for name, args in commands(ports.api, ports.flower, host, pubsub=pubsub).items():
        child = SUPERVISOR.start(name, args, {**os.environ, **envs.get(name, {})})
        print(f"  {name:<18} pid {child.proc.pid:<8} log {_show(child.log)}")
    wait_ready(SUPERVISOR, [f"http://127.0.0.1:{ports.api}/readyz",
                            f"http://127.0.0.1:{ports.flower}/healthcheck"],
               [f"{queue}@{host}" for queue in WORKER_QUEUES])
    api = f"http://127.0.0.1:{ports.api}"
    write_env_file({"FUSION_API_URL": api})
    runlock.update(lock, api=api)
    hint = (f"cat {shlex.quote(password_source)}" if password_source != "FLOWER_PASSWORD"
            else "the FLOWER_PASSWORD you set")
    print(run_banner.banner(ports, pubsub=pubsub, key=key, key_file=_show(KEY_FILE),
                            flower_user=flower_user, password_hint=hint,
                            groups=worker_groups(), logs=_show(LOGS),
                            log_names=[c.log.name for c in SUPERVISOR.children.values()]),
          flush=True)
    while True:
        SUPERVISOR.poll()
        time.sleep(0.5)


def main() -> int:
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # console order
    # SIGINT too: a shell starts background jobs with SIGINT ignored, and Python keeps that.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    LOGS.mkdir(parents=True, exist_ok=True)
    try:
        # First of all: a second run must not touch the first one's servers, not even to stop.
        lock = runlock.acquire(DATA_DIR)
    except runlock.AlreadyRunning as exc:
        print(f"run: {exc}", file=sys.stderr)
        return 1
    # Stop the private servers at exit only if this run started them (none was up before).
    private = not (os.environ.get("DATABASE_URL") and os.environ.get("CELERY_BROKER_URL"))
    owned = private and not any(devstack.status(DATA_DIR).values())
    emulator_owned = (not os.environ.get("PUBSUB_EMULATOR_HOST")
                      and pubsub_emulator.status(DATA_DIR / "pubsub") is None)
    code = 0
    try:
        run(lock)
    except KeyboardInterrupt:
        print("\nFusion Prime: stopping")
    except devstack.MissingBinary as exc:
        print(f"run: {exc}", file=sys.stderr)
        code = 2
    except (RunError, GaveUp, run_ports.PortError, devstack.StartupError,
            pubsub_emulator.StartupError, subprocess.TimeoutExpired) as exc:
        print(f"run: {exc}", file=sys.stderr)
        code = 1
    except Exception:  # e.g. an unreachable DATABASE_URL: show it, but still clean up
        traceback.print_exc()
        code = 1
    # A second Ctrl-C/SIGTERM must not cut the cleanup short, but it does mean "now":
    # whatever is still running is killed instead of waited for.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _stop_requested_again)
    SUPERVISOR.stop(STOP_TIMEOUT)
    if emulator_owned and pubsub_emulator.status(DATA_DIR / "pubsub") is not None:
        pubsub_emulator.stop_emulator(DATA_DIR / "pubsub")
        print("  stopped the private Pub/Sub emulator")
    if owned and any(devstack.status(DATA_DIR).values()):
        ENV_FILE.unlink(missing_ok=True)  # nothing left for the CLI to reach
        try:
            devstack.stop_all(DATA_DIR)
        except (devstack.StartupError, subprocess.TimeoutExpired) as exc:
            print(f"run: could not stop the private servers: {exc}", file=sys.stderr)
            return code or 1
        print(f"  stopped private PostgreSQL/Redis (data kept in {_show(DATA_DIR)})")
    elif ENV_FILE.exists():
        # The servers stay up (as `make services-up` or their owner left them); the API and
        # the emulator do not.
        write_env_file({}, ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"))
    if private and not owned:
        print("  left the private servers running (they were up before this run)")
    return code


if __name__ == "__main__":
    sys.exit(main())
