"""Private PostgreSQL and Redis servers on free 127.0.0.1 ports for `make run` and tests.

eval "$(python scripts/devstack.py up --dir .fusion)"   # or --env-file .fusion/env.sh
python scripts/devstack.py status --dir .fusion
python scripts/devstack.py down --dir .fusion [--purge]

Both servers are durable by default: PostgreSQL commits reach the disk before they return
(fsync, synchronous_commit, full_page_writes on), Redis keeps an append-only file synced every
second. `--fast-unsafe` (or FUSION_DEVSTACK_FAST_UNSAFE=1, which the test suite sets) trades
that for speed on throwaway data: a crash of the server may lose what it had acknowledged.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import functools
import hashlib
import json
import os
import pwd
import random
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

PG_USER = "postgres"
PG_DB = "fusion"
PG_STATE = "postgres.json"
REDIS_STATE = "redis.json"
PG_START_TIMEOUT = 60
FAST_UNSAFE_ENV = "FUSION_DEVSTACK_FAST_UNSAFE"
REDIS_START_TIMEOUT = 10.0

PG_MISSING = (
    "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in "
    "/usr/lib/postgresql/*/bin. Install them: apt-get install postgresql  "
    "(or set DATABASE_URL to an existing server)"
)
REDIS_MISSING = (
    "redis-server not found on PATH. Install it: apt-get install redis-server  "
    "(or set CELERY_BROKER_URL to an existing server)"
)


class MissingBinary(RuntimeError):
    """A server binary is not installed; the message says how to get it."""


class StartupError(RuntimeError):
    """A server did not come up (or a command failed) in bounded time."""


def _ephemeral_ports() -> tuple[int, int]:
    """The kernel's range for the local end of outgoing connections."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def _bindable(port: int, *, reuse: bool) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        if reuse:
            # As a server binds: connections of a stopped one linger in TIME_WAIT.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    """A free port for a server, below the ephemeral range. A server on an ephemeral port can
    lose it while it is down: a client retrying `connect` to it may be given that very port as
    its own local end and connect to itself (TCP simultaneous open), and the restarted server
    then finds its port taken. Outside the range that cannot happen."""
    low, high = _ephemeral_ports()
    ceiling = low if low > 2048 else 65536
    floor = max(1024, ceiling - 12000) if low > 2048 else max(1024, high + 1)
    rng = random.SystemRandom()
    for _ in range(200 if floor < ceiling else 0):
        port = rng.randrange(floor, ceiling)
        if _bindable(port, reuse=False):
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_or_free(previous: object) -> int:
    """The port a server had before (its clients keep their URL across a restart) if it is
    still free, else a new free one."""
    if isinstance(previous, int) and 0 < previous < 65536 and _bindable(previous, reuse=True):
        return previous
    return free_port()


def _same_port(port: int, what: str, wait: float = 10.0) -> int:
    """A restart keeps its port, or fails: clients would never find a server that moved."""
    deadline = time.monotonic() + wait
    while not _bindable(port, reuse=True):
        if time.monotonic() > deadline:
            raise StartupError(f"{what} cannot restart: port {port} is taken by another process")
        time.sleep(0.1)
    return port


def _is_root() -> bool:
    return os.geteuid() == 0


def _tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return f"(no log at {path})"
    return f"--- last lines of {path} ---\n" + "\n".join(text)


def _read_state(path: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    """Serialise callers sharing a data dir (parallel test workers, make run + make test)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / ".devstack.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        # A daemon reparented to a non-reaping PID 1 (containers) lingers as a zombie.
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] != "Z"
    except ProcessLookupError:
        return False
    except OSError:  # not ours to signal, or no /proc (macOS): it exists
        return True


@functools.cache
def _auto_install() -> bool:
    """apt-get both servers once per process, when we are allowed to; True if it ran."""
    if not _is_root() or os.environ.get("FUSION_AUTO_INSTALL") == "0":
        return False
    if not (shutil.which("apt-get") and Path("/etc/debian_version").exists()):
        return False
    print("devstack: installing postgresql redis-server with apt-get", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "postgresql", "redis-server"]):
        if subprocess.run(cmd, env=env, stdout=sys.stderr, check=False).returncode:
            raise MissingBinary(f"automatic install failed ({shlex.join(cmd)})")
    return True


def _find_pg_bindir() -> Path | None:
    initdb = shutil.which("initdb")
    # Resolve symlinks so createdb/psql come from the real bin dir, not Debian's pg_wrapper.
    if initdb and (Path(initdb).resolve().parent / "pg_ctl").exists():
        return Path(initdb).resolve().parent

    def version(bindir: Path) -> tuple[int, ...]:
        return tuple(int(p) for p in bindir.parent.name.split(".") if p.isdigit())

    found = Path("/usr/lib/postgresql").glob("*/bin")
    dirs = [d for d in found if (d / "initdb").exists() and (d / "pg_ctl").exists()]
    return max(dirs, key=version) if dirs else None


def _pg_bindir(state: dict[str, Any] | None) -> Path:
    # An existing cluster must keep the major version it was created with.
    if state and (Path(state["bin"]) / "pg_ctl").exists():
        return Path(state["bin"])
    bindir = _find_pg_bindir()
    if bindir is None and _auto_install():
        bindir = _find_pg_bindir()
    if bindir is None:
        raise MissingBinary(PG_MISSING)
    return bindir


def _run_pg(cmd: Sequence[object], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    args = [str(c) for c in cmd]
    if _is_root():
        # PostgreSQL refuses to run as root; cwd=/ because ours may be unreadable to postgres.
        if not shutil.which("runuser"):
            raise MissingBinary("runuser (util-linux) is needed to run PostgreSQL as root")
        args = ["runuser", "-u", PG_USER, "--", *args]
    return subprocess.run(
        args, capture_output=True, text=True, timeout=timeout, cwd="/", check=False
    )


def _pg_ids() -> tuple[int, int]:
    """uid/gid the cluster runs as: postgres when we are root, else ourselves."""
    if not _is_root():
        return os.geteuid(), os.getegid()
    try:
        user = pwd.getpwnam(PG_USER)
    except KeyError:
        raise StartupError(f"running as root needs a '{PG_USER}' system user") from None
    return user.pw_uid, user.pw_gid


def _pg_owned_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if _is_root():
        os.chown(path, *_pg_ids())


def _pg_base(data_dir: Path) -> Path:
    """Pick where the cluster lives: data_dir/pg unless postgres can't reach it there."""
    candidate = data_dir / "pg"
    # Unix socket paths are capped at ~107 bytes; "/.s.PGSQL.NNNNN" adds 16.
    usable = len(str(candidate / "run")) + 16 < 107
    if usable and _is_root():
        _pg_owned_dir(candidate)
        probe = _run_pg(["test", "-w", candidate, "-a", "-x", candidate])
        usable = probe.returncode == 0
        if not usable:
            shutil.rmtree(candidate, ignore_errors=True)
    if usable:
        return candidate
    # e.g. a repo inside a 0700 `mktemp -d`: postgres cannot traverse its parents.
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:12]
    fallback = Path("/tmp") / f"fusion-pg-{digest}"
    # /tmp is shared: never chown through someone else's planted dir or symlink.
    if fallback.is_symlink() or (fallback.exists() and fallback.stat().st_uid != _pg_ids()[0]):
        raise StartupError(f"{fallback} exists and belongs to someone else; remove it")
    return fallback


def fast_unsafe_requested() -> bool:
    """Whether the caller asked for the crash-unsafe fast settings (tests do)."""
    return os.environ.get(FAST_UNSAFE_ENV, "").strip().lower() in {"1", "true", "yes"}


def postgres_options(port: int, run: Path, *, fast_unsafe: bool) -> str:
    """The postmaster's command line. Given as -c flags, so they win over postgresql.conf and
    postgresql.auto.conf, and a restart always applies what this process asked for."""
    opts = (f"-p {port} -k {shlex.quote(str(run))} -c listen_addresses=127.0.0.1 "
            "-c max_connections=200")
    if fast_unsafe:
        # A crash of PostgreSQL (not only of the machine) then loses commits it acknowledged.
        return opts + " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    return opts + " -c fsync=on -c synchronous_commit=on -c full_page_writes=on"


def redis_persistence(*, fast_unsafe: bool) -> list[str]:
    """Redis's persistence flags. Append-only, fsynced every second, is the usual broker
    setting: a crash of Redis loses at most the last second of enqueued tasks, which the
    command sweeper re-sends from PostgreSQL. Without it a restart drops every queued task."""
    if fast_unsafe:
        return ["--save", "", "--appendonly", "no"]
    return ["--save", "", "--appendonly", "yes", "--appendfsync", "everysec"]


def _pg_url(port: int) -> str:
    return f"postgresql+psycopg://{PG_USER}@127.0.0.1:{port}/{PG_DB}"


def _pg_running(state: dict[str, Any]) -> bool:
    pgdata = Path(state["base"]) / "data"
    if not (pgdata / "PG_VERSION").exists() or not (Path(state["bin"]) / "pg_ctl").exists():
        return False
    return _run_pg([Path(state["bin"]) / "pg_ctl", "status", "-D", pgdata]).returncode == 0


def ensure_postgres(data_dir: Path, *, fast_unsafe: bool | None = None) -> str:
    """URL of the private cluster under data_dir, started if needed; durable unless
    fast_unsafe (default: FUSION_DEVSTACK_FAST_UNSAFE)."""
    data_dir = data_dir.resolve()
    fast = fast_unsafe_requested() if fast_unsafe is None else fast_unsafe
    with _locked(data_dir):
        return _ensure_postgres(data_dir, fast)


def _ensure_postgres(data_dir: Path, fast_unsafe: bool) -> str:
    state_file = data_dir / PG_STATE
    state = _read_state(state_file)
    if state and _pg_running(state):
        # A cluster started fast (by an older devstack, or a test run) is restarted with the
        # durable settings when someone wants them; a durable one is good enough for anyone.
        if fast_unsafe or not state.get("fast_unsafe", True):
            return _pg_url(int(state["port"]))
        _restart_postgres(state, state_file)
        return _pg_url(int(state["port"]))

    bindir = _pg_bindir(state)
    base = Path(state["base"]) if state else _pg_base(data_dir)
    pgdata, run, log = base / "data", base / "run", base / "postgres.log"
    _pg_owned_dir(base)
    _pg_owned_dir(run)
    if not (pgdata / "PG_VERSION").exists():
        initdb = [bindir / "initdb", "-A", "trust", "-U", PG_USER, "-E", "UTF8"]
        if fast_unsafe:
            initdb.append("--no-sync")
        done = _run_pg([*initdb, "-D", pgdata])
        if done.returncode:
            raise StartupError(f"initdb failed:\n{done.stdout}{done.stderr}")

    pg_ctl = [bindir / "pg_ctl", "-w", "-t", str(PG_START_TIMEOUT), "-D", pgdata, "-l", log]
    previous = state.get("port") if state else None
    for attempt in range(3):
        port = _port_or_free(previous) if attempt == 0 else free_port()
        # Recorded before starting so stop_all can find a half-started cluster.
        state = {"base": str(base), "bin": str(bindir), "port": port, "fast_unsafe": fast_unsafe}
        state_file.write_text(json.dumps(state, indent=2))
        opts = postgres_options(port, run, fast_unsafe=fast_unsafe)
        started = _run_pg([*pg_ctl, "-o", opts, "start"], timeout=PG_START_TIMEOUT + 30)
        if not started.returncode:
            break
        # Another process may grab the free port before the postmaster binds it.
        if attempt == 2 or "Address already in use" not in _tail(log, 6):
            raise StartupError(
                f"PostgreSQL failed to start on port {port} (waited up to {PG_START_TIMEOUT}s):\n"
                f"{started.stdout}{started.stderr}\n{_tail(log)}"
            )
    created = _run_pg(
        [bindir / "createdb", "-h", "127.0.0.1", "-p", port, "-U", PG_USER, PG_DB], timeout=60
    )
    if created.returncode and "already exists" not in created.stderr:
        raise StartupError(f"createdb {PG_DB} failed:\n{created.stderr}\n{_tail(log)}")
    return _pg_url(port)


def _restart_postgres(state: dict[str, Any], state_file: Path) -> None:
    """Restart a running cluster on its port with the durable settings."""
    base = Path(state["base"])
    opts = postgres_options(int(state["port"]), base / "run", fast_unsafe=False)
    restart = [Path(state["bin"]) / "pg_ctl", "restart", "-m", "fast", "-w", "-t",
               str(PG_START_TIMEOUT), "-D", base / "data", "-l", base / "postgres.log", "-o", opts]
    done = _run_pg(restart, timeout=PG_START_TIMEOUT + 60)
    if done.returncode:
        raise StartupError(f"pg_ctl restart failed:\n{done.stdout}{done.stderr}\n"
                           f"{_tail(base / 'postgres.log')}")
    state_file.write_text(json.dumps({**state, "fast_unsafe": False}, indent=2))


def restart_postgres(data_dir: Path, *, mode: str = "fast") -> None:
    """Restart the private cluster in place (same port and settings); mode "immediate" is a
    crash as far as the data is concerned. For fault tests on their own data dir."""
    data_dir = data_dir.resolve()
    with _locked(data_dir):
        state = _read_state(data_dir / PG_STATE)
        if not state:
            raise StartupError(f"no PostgreSQL state under {data_dir}")
        base = Path(state["base"])
        if mode == "immediate":
            # Stopped first, so that the port is known to be free again before it starts.
            stop = [Path(state["bin"]) / "pg_ctl", "stop", "-m", mode, "-w", "-t",
                    str(PG_START_TIMEOUT), "-D", base / "data"]
            stopped = _run_pg(stop, timeout=PG_START_TIMEOUT + 30)
            if stopped.returncode:
                raise StartupError(f"pg_ctl stop failed:\n{stopped.stdout}{stopped.stderr}")
            _same_port(int(state["port"]), "PostgreSQL")
        opts = postgres_options(int(state["port"]), base / "run",
                                fast_unsafe=bool(state.get("fast_unsafe", True)))
        restart = [Path(state["bin"]) / "pg_ctl", "restart", "-m", mode, "-w", "-t",
                   str(PG_START_TIMEOUT), "-D", base / "data", "-l", base / "postgres.log",
                   "-o", opts]
        done = _run_pg(restart, timeout=PG_START_TIMEOUT + 60)
        if done.returncode:
            raise StartupError(f"pg_ctl restart failed:\n{done.stdout}{done.stderr}")


def _redis_url(port: int, db: int = 0) -> str:
    return f"redis://127.0.0.1:{port}/{db}"


def _redis_command(port: int, *words: str) -> bytes:
    """One command in RESP; the first reply chunk (enough for PING and CONFIG SET)."""
    encoded = b"".join(b"$%d\r\n%s\r\n" % (len(w.encode()), w.encode()) for w in words)
    with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
        sock.sendall(b"*%d\r\n" % len(words) + encoded)
        return sock.recv(4096)


def _ping(port: int) -> bool:
    try:
        return _redis_command(port, "PING").startswith(b"+PONG")
    except OSError:
        return False


def _redis_pid(rdir: Path) -> int | None:
    try:
        return int((rdir / "redis.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def _redis_running(data_dir: Path) -> int | None:
    """Port of our redis if its pid is alive and it answers PING, else None."""
    state = _read_state(data_dir / REDIS_STATE)
    pid = _redis_pid(data_dir / "redis")
    if state and pid and _pid_alive(pid) and _ping(int(state["port"])):
        return int(state["port"])
    return None


def ensure_redis(data_dir: Path, *, fast_unsafe: bool | None = None) -> str:
    """URL of the private Redis under data_dir, started if needed; append-only unless
    fast_unsafe (default: FUSION_DEVSTACK_FAST_UNSAFE)."""
    data_dir = data_dir.resolve()
    fast = fast_unsafe_requested() if fast_unsafe is None else fast_unsafe
    with _locked(data_dir):
        return _ensure_redis(data_dir, fast)


def _ensure_redis(data_dir: Path, fast_unsafe: bool) -> str:
    rdir = data_dir / "redis"
    rdir.mkdir(parents=True, exist_ok=True)
    port = _redis_running(data_dir)
    if port:
        if not fast_unsafe:
            # Redis switches persistence on at runtime (it writes the AOF from its memory).
            for name, value in (("appendfsync", "everysec"), ("appendonly", "yes")):
                reply = _redis_command(port, "CONFIG", "SET", name, value)
                if not reply.startswith(b"+OK"):
                    raise StartupError(f"redis CONFIG SET {name} failed: {reply!r}")
        return _redis_url(port)

    server = shutil.which("redis-server")
    if server is None and _auto_install():
        server = shutil.which("redis-server")
    if server is None:
        raise MissingBinary(REDIS_MISSING)
    pidfile, log = rdir / "redis.pid", rdir / "redis.log"
    pidfile.unlink(missing_ok=True)
    port = _port_or_free((_read_state(data_dir / REDIS_STATE) or {}).get("port"))
    (data_dir / REDIS_STATE).write_text(json.dumps({"port": port, "dir": str(rdir)}))
    cmd = [server, "--port", str(port), "--bind", "127.0.0.1", "--daemonize", "yes",
           *redis_persistence(fast_unsafe=fast_unsafe), "--dir", str(rdir),
           "--pidfile", str(pidfile), "--logfile", str(log)]  # fmt: skip
    launched = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    if launched.returncode:
        raise StartupError(f"redis-server failed:\n{launched.stderr}\n{_tail(log)}")
    deadline = time.monotonic() + REDIS_START_TIMEOUT
    while time.monotonic() < deadline:
        if _ping(port):
            return _redis_url(port)
        time.sleep(0.1)
    raise StartupError(
        f"Redis did not answer PING on port {port} within {REDIS_START_TIMEOUT}s\n{_tail(log)}"
    )


def _stop_redis(rdir: Path) -> None:
    pid = _redis_pid(rdir)
    if not pid or not _pid_alive(pid):
        return
    # Never signal a recycled pid that now belongs to something else.
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists() and b"redis" not in cmdline.read_bytes():
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _pid_alive(pid):
        os.kill(pid, signal.SIGKILL)


def stop_all(data_dir: Path, *, purge: bool = False) -> None:
    """Stop both private servers; purge=True also deletes their data and state."""
    data_dir = data_dir.resolve()
    with _locked(data_dir):
        _stop_all(data_dir, purge=purge)


def _stop_postgres(state: dict[str, Any] | None, mode: str = "fast") -> None:
    if state and _pg_running(state):
        base = Path(state["base"])
        stop = [Path(state["bin"]) / "pg_ctl", "stop", "-m", mode, "-w", "-t", "60"]
        stopped = _run_pg([*stop, "-D", base / "data"], timeout=90)
        # A non-zero exit only matters if the server is in fact still up.
        if stopped.returncode and _pg_running(state):
            raise StartupError(
                f"pg_ctl stop failed: {stopped.stderr}\n{_tail(base / 'postgres.log')}"
            )


def stop_postgres(data_dir: Path, *, mode: str = "fast") -> None:
    """Stop only the private PostgreSQL (ensure_postgres starts it again on its port)."""
    data_dir = data_dir.resolve()
    with _locked(data_dir):
        _stop_postgres(_read_state(data_dir / PG_STATE), mode)


def stop_redis(data_dir: Path) -> None:
    """Stop only the private Redis (ensure_redis starts it again on its port)."""
    data_dir = data_dir.resolve()
    with _locked(data_dir):
        _stop_redis(data_dir / "redis")


def _stop_all(data_dir: Path, *, purge: bool) -> None:
    state = _read_state(data_dir / PG_STATE)
    _stop_postgres(state)
    _stop_redis(data_dir / "redis")
    if purge:
        if state:
            shutil.rmtree(state["base"], ignore_errors=True)
        shutil.rmtree(data_dir / "redis", ignore_errors=True)
        for name in (PG_STATE, REDIS_STATE):
            (data_dir / name).unlink(missing_ok=True)


def restart_redis(data_dir: Path, *, fast_unsafe: bool | None = None) -> str:
    """SIGKILL the private Redis (a crash: nothing is saved on the way down) and start it
    again, on the same port when it is free, so clients reconnect to the URL they have. For
    fault tests on their own data dir."""
    data_dir = data_dir.resolve()
    fast = fast_unsafe_requested() if fast_unsafe is None else fast_unsafe
    with _locked(data_dir):
        pid = _redis_pid(data_dir / "redis")
        if not pid:
            raise StartupError(f"no private Redis under {data_dir}")
        if _pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        state = _read_state(data_dir / REDIS_STATE) or {}
        if isinstance(state.get("port"), int):
            _same_port(state["port"], "Redis")
        return _ensure_redis(data_dir, fast)


def status(data_dir: Path) -> dict[str, str | None]:
    """URL of each private server that is up right now (None when it is not)."""
    data_dir = data_dir.resolve()
    state = _read_state(data_dir / PG_STATE)
    pg = _pg_url(int(state["port"])) if state and _pg_running(state) else None
    port = _redis_running(data_dir)
    return {"postgres": pg, "redis": _redis_url(port) if port else None}


def _up(data_dir: Path, env_file: Path | None, *, fast_unsafe: bool) -> None:
    env: dict[str, str] = {}
    database = os.environ.get("DATABASE_URL")
    env["DATABASE_URL"] = database or ensure_postgres(data_dir, fast_unsafe=fast_unsafe)
    broker, backend = os.environ.get("CELERY_BROKER_URL"), os.environ.get("CELERY_RESULT_BACKEND")
    if broker:
        env["CELERY_BROKER_URL"] = broker
    else:
        env["CELERY_BROKER_URL"] = url = ensure_redis(data_dir, fast_unsafe=fast_unsafe)
        backend = backend or url.removesuffix("/0") + "/1"
    if backend:
        env["CELERY_RESULT_BACKEND"] = backend
    text = "".join(f"export {key}={shlex.quote(value)}\n" for key, value in env.items())
    print(text, end="")
    if env_file:
        env_file.parent.mkdir(parents=True, exist_ok=True)
        env_file.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--dir", type=Path, required=True, help="data folder, e.g. .fusion")
    parser.add_argument("--env-file", type=Path, help="up: also write the export lines here")
    parser.add_argument("--purge", action="store_true", help="down: also delete the data")
    parser.add_argument("--fast-unsafe", action="store_true", default=fast_unsafe_requested(),
                        help=f"up: no fsync, no AOF: a server crash loses acknowledged writes "
                             f"(throwaway data only; also {FAST_UNSAFE_ENV}=1)")
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            _up(args.dir, args.env_file, fast_unsafe=args.fast_unsafe)
        elif args.command == "down":
            stop_all(args.dir, purge=args.purge)
        else:
            for name, url in status(args.dir).items():
                print(f"{name}: {'running ' + url if url else 'not running'}")
    except MissingBinary as exc:
        print(f"devstack: {exc}", file=sys.stderr)
        return 2
    except (StartupError, subprocess.TimeoutExpired) as exc:
        print(f"devstack: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
