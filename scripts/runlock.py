"""One `make run` per data dir: an flock held for the run's lifetime, naming its owner.

The kernel drops the lock when its holder dies, however it dies, so a crashed run never leaves
a stale lock behind; the JSON inside only says who holds it.
"""

from __future__ import annotations

import fcntl
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

LOCK_NAME = "run.lock"


class AlreadyRunning(RuntimeError):
    """Another run holds the lock; the message names it."""


def describe(holder: dict[str, Any], lock: Path) -> str:
    pid = holder.get("pid", "?")
    since = holder.get("started_at", "?")
    api = f", API {holder['api']}" if holder.get("api") else ""
    return (f"another make run (pid {pid}, started {since}{api}) is using {lock.parent}; "
            f"stop it first (Ctrl-C in its terminal, or kill {pid}), or give this one its "
            f"own FUSION_DATA_DIR")


def acquire(data_dir: Path, **details: object) -> IO[str]:
    """Take the lock or raise AlreadyRunning; keep the returned handle open while running."""
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = data_dir / LOCK_NAME
    # "a+" so a refused attempt does not truncate the holder's description.
    handle = lock.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        try:
            holder = dict(json.loads(handle.read() or "{}"))
        except ValueError:
            holder = {}
        handle.close()
        raise AlreadyRunning(describe(holder, lock)) from None
    update(handle, pid=os.getpid(), started_at=datetime.now(UTC).isoformat(timespec="seconds"),
           **details)
    return handle


def update(handle: IO[str], **details: object) -> None:
    handle.seek(0)
    current = handle.read()
    try:
        holder = dict(json.loads(current)) if current.strip() else {}
    except ValueError:
        holder = {}
    if "pid" in details:  # a new holder: nothing of the previous one's stays
        holder = {}
    holder.update(details)
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps(holder) + "\n")
    handle.flush()
