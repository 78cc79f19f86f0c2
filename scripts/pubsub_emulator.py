"""A private Google Cloud Pub/Sub emulator on a free 127.0.0.1 port, for `make run` and tests.

eval "$(python scripts/pubsub_emulator.py up --dir .fusion/pubsub)"   # prints the export line
python scripts/pubsub_emulator.py status --dir .fusion/pubsub
python scripts/pubsub_emulator.py down --dir .fusion/pubsub

Stdlib only, so it can run before the venv exists (like devstack.py).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

STATE = "pubsub-emulator.json"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0

GCLOUD_MISSING = (
    "gcloud not found: install the Google Cloud SDK with the pubsub-emulator component "
    "(apt-get install google-cloud-cli google-cloud-cli-pubsub-emulator, or "
    "`gcloud components install pubsub-emulator beta`) or set PUBSUB_EMULATOR_HOST to a "
    "running emulator"
)
JAVA_MISSING = (
    "java not found: the Pub/Sub emulator needs a Java 11+ runtime "
    "(apt-get install default-jre-headless) or set PUBSUB_EMULATOR_HOST to a running emulator"
)


class MissingBinary(RuntimeError):  # same name as devstack's
    """gcloud or java is not installed; the message says how to get it."""


class StartupError(RuntimeError):
    """The emulator did not come up in bounded time."""


# Popen handles of emulators this process started, so stop() can reap them (no zombies).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def free_port() -> int:
    import devstack  # noqa: PLC0415 - a sibling: scripts/ is on sys.path wherever this runs

    return devstack.free_port()


@contextlib.contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    """Serialise callers sharing a data dir (two test sessions, make run + make test)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / ".pubsub.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _read_state(data_dir: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads((data_dir / STATE).read_text()))
    except (OSError, ValueError):
        return None


def _pid_alive(pid: int) -> bool:
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        os.kill(pid, 0)
        # Reparented to a non-reaping PID 1 (containers), a dead gcloud lingers as a zombie.
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] != "Z"
    except ProcessLookupError:
        return False
    except OSError:
        return True


def _is_ours(pid: int) -> bool:
    """Never signal a recycled pid that now belongs to something else."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return _pid_alive(pid)  # no /proc (macOS): trust the state file
    return b"pubsub" in cmdline


def _answers(port: int) -> bool:
    # The emulator answers GET / with 200 "Ok." once its gRPC/HTTP server is listening.
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as response:
            return int(response.status) == 200
    except (OSError, urllib.error.URLError):
        return False


def _tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return f"(no log at {path})"
    return f"--- last lines of {path} ---\n" + "\n".join(text)


def status(data_dir: Path) -> str | None:
    """host:port of the emulator running for data_dir, or None."""
    state = _read_state(data_dir.resolve())
    if state and _pid_alive(int(state["pid"])) and _answers(int(state["port"])):
        return f"127.0.0.1:{state['port']}"
    return None


def ensure_emulator(data_dir: Path) -> str:
    """Start (or reuse) the emulator for data_dir; returns host:port for PUBSUB_EMULATOR_HOST."""
    data_dir = data_dir.resolve()
    with _locked(data_dir):
        running = status(data_dir)
        if running:
            return running
        _stop(data_dir)  # a half-dead previous instance would hold its port and its java child
        return _start(data_dir)


def _start(data_dir: Path) -> str:
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        raise MissingBinary(GCLOUD_MISSING)
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise MissingBinary(JAVA_MISSING)
    store = data_dir / "data"
    store.mkdir(parents=True, exist_ok=True)  # gcloud refuses a --data-dir that does not exist
    log_path = data_dir / "emulator.log"
    port = free_port()
    with log_path.open("ab") as log:
        # Own session: gcloud (python) spawns java; killpg must reach both.
        process = subprocess.Popen(
            [gcloud, "beta", "emulators", "pubsub", "start",
             f"--host-port=127.0.0.1:{port}", f"--data-dir={store}"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    _CHILDREN[process.pid] = process
    # Recorded before waiting so `down` can stop a half-started emulator.
    (data_dir / STATE).write_text(json.dumps({"port": port, "pid": process.pid}, indent=2))
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if _answers(port):
            return f"127.0.0.1:{port}"
        if process.poll() is not None:
            break
        time.sleep(0.2)
    exited = process.poll()
    _stop(data_dir)
    why = f"exited with {exited}" if exited is not None else f"no answer in {START_TIMEOUT:.0f}s"
    hint = ""
    if "components install" in _tail(log_path) or "not installed" in _tail(log_path):
        hint = f"\n{GCLOUD_MISSING}"
    raise StartupError(f"Pub/Sub emulator on port {port} {why}{hint}\n{_tail(log_path)}")


def stop_emulator(data_dir: Path) -> None:
    """Stop the emulator of data_dir (gcloud and its java child) if it runs."""
    data_dir = data_dir.resolve()
    with _locked(data_dir):
        _stop(data_dir)


def _stop(data_dir: Path) -> None:
    state = _read_state(data_dir)
    if not state:
        return
    pid = int(state["pid"])
    if _pid_alive(pid) and _is_ours(pid):
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
    # java may outlive its gcloud parent: the group is what must go.
    _signal_group(pid, signal.SIGKILL)
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        child.wait(timeout=STOP_TIMEOUT)
    (data_dir / STATE).unlink(missing_ok=True)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--dir", type=Path, required=True, help="data folder, e.g. .fusion/pubsub")
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            print(f"export PUBSUB_EMULATOR_HOST={ensure_emulator(args.dir)}")
        elif args.command == "down":
            stop_emulator(args.dir)
        else:
            host = status(args.dir)
            print(f"pubsub: {'running ' + host if host else 'not running'}")
    except MissingBinary as exc:
        print(f"pubsub_emulator: {exc}", file=sys.stderr)
        return 2
    except StartupError as exc:
        print(f"pubsub_emulator: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
