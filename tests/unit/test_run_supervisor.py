"""`make run`'s supervisor on toy children: a killed child is restarted with backoff and
counted, one that keeps dying makes it give up, a second stop request kills what ignores
SIGTERM, and a second run on the same data dir is refused by name."""

from __future__ import annotations

import os
import signal
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support import ROOT, devstack, wait_for

sys.path.insert(0, str(ROOT / "scripts"))
import runlock
from supervise import GaveUp, RestartPolicy, Supervisor

SLEEPER = [sys.executable, "-c", "import time; time.sleep(300)"]
# Ignores SIGTERM, and so does the pool process it forks: only SIGKILL of the group stops them.
STUBBORN = [sys.executable, "-c",
            "import os, signal, time\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "os.fork()\n"
            "print('r' 'eady', flush=True)\n"  # the marker is not in the logged command
            "time.sleep(300)"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    return state != "Z"


def _sample(text: str, name: str, process: str) -> float:
    prefix = f'{name}{{process="{process}"}} '
    return float(next(line[len(prefix):] for line in text.splitlines()
                      if line.startswith(prefix)))


def _supervisor(tmp_path: Path, said: list[str], **policy: float) -> Supervisor:
    defaults = {"max_restarts": 3, "window_seconds": 60.0, "backoff_initial": 0.2,
                "backoff_max": 1.0}
    return Supervisor(tmp_path, cwd=tmp_path,
                      policy=RestartPolicy(**{**defaults, **policy}),  # type: ignore[arg-type]
                      say=said.append)


def test_a_killed_child_is_restarted_with_backoff_and_counted(tmp_path: Path) -> None:
    said: list[str] = []
    supervisor = _supervisor(tmp_path, said)
    child = supervisor.start("worker-toy", SLEEPER, dict(os.environ))
    port = devstack.free_port()
    supervisor.serve_metrics(port)
    first = child.proc.pid
    try:
        os.kill(first, signal.SIGKILL)
        child.proc.wait(timeout=10)
        died_at = time.monotonic()
        supervisor.poll()
        assert child.restart_at is not None and child.restart_at >= died_at + 0.2 - 0.05
        assert any("worker-toy" in line and "SIGKILL" in line and "restarting in 0.2s" in line
                   for line in said), said

        def restarted() -> bool:
            supervisor.poll()
            return child.proc.pid != first and child.proc.poll() is None

        wait_for(restarted, timeout=10, what="the toy child restarted")
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
        scraped = text.decode()
        assert _sample(scraped, "fusion_run_restarts_total", "worker-toy") == 1
        assert _sample(scraped, "fusion_run_process_up", "worker-toy") == 1
        log = (tmp_path / "worker-toy.log").read_text()
        assert log.count('"process.start"') == 2 and '"process.exit"' in log

        # The second death in the window waits twice as long.
        os.kill(child.proc.pid, signal.SIGKILL)
        child.proc.wait(timeout=10)
        now = time.monotonic()
        supervisor.poll(now)
        assert child.restart_at == pytest.approx(now + 0.4)
    finally:
        supervisor.stop(timeout=5)


def test_a_child_that_keeps_dying_makes_it_give_up(tmp_path: Path) -> None:
    said: list[str] = []
    supervisor = _supervisor(tmp_path, said, max_restarts=2, backoff_initial=0.05)
    crasher = [sys.executable, "-c", "import sys; print('bad config'); sys.exit(3)"]
    supervisor.start("bridge", crasher, dict(os.environ))
    with pytest.raises(GaveUp) as gave_up:
        wait_for(lambda: supervisor.poll() or False, timeout=20, what="giving up")
    message = str(gave_up.value)
    assert "bridge" in message and "exited (3)" in message
    assert "died 3 times within 60s" in message and "bad config" in message
    assert sum("restarting in" in line for line in said) == 2
    supervisor.stop(timeout=5)


def test_startup_deaths_are_not_restarted(tmp_path: Path) -> None:
    supervisor = _supervisor(tmp_path, [])
    child = supervisor.start("api", [sys.executable, "-c", "raise SystemExit(1)"],
                             dict(os.environ))
    child.proc.wait(timeout=10)
    with pytest.raises(GaveUp, match=r"api .* exited \(1\) during startup"):
        supervisor.check_alive()


def test_a_second_stop_request_kills_every_process_group(tmp_path: Path) -> None:
    said: list[str] = []
    supervisor = _supervisor(tmp_path, said)
    child = supervisor.start("beat", STUBBORN, dict(os.environ))
    wait_for(lambda: (tmp_path / "beat.log").read_bytes().count(b"ready") == 2, timeout=10,
             what="the stubborn child forked")
    group = [int(p) for p in os.listdir("/proc") if p.isdigit()
             and _alive(int(p)) and os.getpgid(int(p)) == child.proc.pid]
    assert len(group) == 2, group  # the child and the process it forked
    supervisor.hurry = True  # what the second Ctrl-C's handler sets
    started = time.monotonic()
    supervisor.stop(timeout=60)
    assert time.monotonic() - started < 5
    wait_for(lambda: not any(_alive(pid) for pid in group), timeout=5,
             what="the whole group gone")
    assert any("second stop request" in line for line in said), said


def test_a_second_run_on_the_same_data_dir_is_refused_by_name(tmp_path: Path) -> None:
    held = runlock.acquire(tmp_path, api="http://127.0.0.1:8000")
    try:
        with pytest.raises(runlock.AlreadyRunning) as refused:
            runlock.acquire(tmp_path)
        message = str(refused.value)
        assert f"pid {os.getpid()}" in message and "http://127.0.0.1:8000" in message
        assert str(tmp_path) in message
    finally:
        held.close()
    runlock.acquire(tmp_path).close()  # released with its holder
