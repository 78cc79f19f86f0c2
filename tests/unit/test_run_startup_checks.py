"""`make run` refuses before starting anything: a busy or doubled port (every one checked up
front), or a second fleet on a data dir that a running one holds. Metrics ports given in the
environment are the ones used."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ROOT, devstack

sys.path.insert(0, str(ROOT / "scripts"))
import run_ports
import runlock

VARIABLES = ("FUSION_API_PORT", "FLOWER_PORT", "FUSION_RUN_METRICS_PORT", "BRIDGE_METRICS_PORT",
             "OUTBOX_METRICS_PORT")


@pytest.fixture
def listening() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.fixture(autouse=True)
def _clean_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FUSION_API_PORT", str(devstack.free_port()))
    monkeypatch.setenv("FLOWER_PORT", str(devstack.free_port()))


def test_given_metrics_ports_are_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    bridge = devstack.free_port()
    monkeypatch.setenv("BRIDGE_METRICS_PORT", str(bridge))
    monkeypatch.setenv("OUTBOX_METRICS_PORT", "0")
    ports = run_ports.plan()
    assert (ports.bridge_metrics, ports.outbox_metrics) == (bridge, 0)
    assert ports.run_metrics not in (0, bridge, ports.api, ports.flower)


def test_every_busy_or_doubled_port_is_named(monkeypatch: pytest.MonkeyPatch,
                                             listening: int) -> None:
    monkeypatch.setenv("FLOWER_PORT", str(listening))
    monkeypatch.setenv("OUTBOX_METRICS_PORT", os.environ["FUSION_API_PORT"])
    monkeypatch.setenv("BRIDGE_METRICS_PORT", "http")
    with pytest.raises(run_ports.PortError, match="BRIDGE_METRICS_PORT must be a port"):
        run_ports.plan()
    monkeypatch.setenv("BRIDGE_METRICS_PORT", "0")
    with pytest.raises(run_ports.PortError) as refused:
        run_ports.plan()
    message = str(refused.value)
    assert f"port {listening} (FLOWER_PORT)" in message
    assert "OUTBOX_METRICS_PORT and FUSION_API_PORT are both" in message


def _run(data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "run.py")], cwd=ROOT,
                          env={**os.environ, "FUSION_DATA_DIR": str(data_dir), **env},
                          capture_output=True, text=True, timeout=60, check=False)


def test_run_stops_at_a_busy_port_before_starting_anything(tmp_path: Path,
                                                           listening: int) -> None:
    done = _run(tmp_path, BRIDGE_METRICS_PORT=str(listening))
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"port {listening} (BRIDGE_METRICS_PORT)" in done.stderr
    assert not (tmp_path / "pg").exists() and not (tmp_path / "redis").exists()
    assert "private PostgreSQL" not in done.stdout


def test_a_second_run_on_a_held_data_dir_is_refused(tmp_path: Path) -> None:
    held = runlock.acquire(tmp_path, api="http://127.0.0.1:8123")
    try:
        done = _run(tmp_path)
    finally:
        held.close()
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"another make run (pid {os.getpid()}" in done.stderr
    assert "http://127.0.0.1:8123" in done.stderr
    assert not (tmp_path / "pg").exists()


def test_the_banner_lists_every_url() -> None:
    import run_banner  # noqa: PLC0415

    ports = run_ports.Ports(api=8000, flower=5555, run_metrics=9100, bridge_metrics=9464,
                            outbox_metrics=0)
    text = run_banner.banner(ports, pubsub=True, key="fp_x_y", key_file=".fusion/dev-api-key",
                             flower_user="admin", password_hint="cat .fusion/flower-password",
                             groups=["settlement (1-4)"], logs=".fusion/logs",
                             log_names=["api.log"])
    for url in ("http://127.0.0.1:8000", "http://127.0.0.1:8000/docs",
                "http://127.0.0.1:8000/metrics", "http://127.0.0.1:5555",
                "http://127.0.0.1:5555/metrics", "http://127.0.0.1:9100/metrics",
                "http://127.0.0.1:9464/metrics"):
        assert f"{url}\n" in text, url
    assert "outbox relay metrics: off" in text
    assert "fusion-prime demo seed" in text
