"""The README's "Quickstart: a first settlement", run as written: its ```sh blocks in one bash
session against a live stack (gunicorn, a worker with KYC required, as `make run` has it) in a
second-shell environment, ending with a released escrow and a settled DVP."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from tests.support import (
    ROOT,
    ManagedProcess,
    Worker,
    create_test_database,
    devstack,
    drop_test_database,
    wait_for,
)

pytestmark = pytest.mark.e2e

HEADING = "### Quickstart: a first settlement"


def quickstart_script() -> str:
    text = (ROOT / "README.md").read_text()
    assert HEADING in text, f"README has no {HEADING!r} section"
    section = re.split(r"\n#{2,3} ", text.split(HEADING, 1)[1], maxsplit=1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    assert len(blocks) >= 5, blocks  # setup, seed, deposit, KYC, escrow, DVP
    return "set -euo pipefail\n" + "\n".join(blocks)


@pytest.fixture(scope="module")
def live_stack(service_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[tuple[str, dict[str, str], Path]]:
    """A database and broker databases of its own (the session's worker runs without the KYC
    requirement and must take none of these tasks), a worker and the API under gunicorn."""
    from app.config import get_settings  # noqa: PLC0415
    from app.services.apikeys import SCOPES, create_api_key  # noqa: PLC0415

    home = tmp_path_factory.mktemp("second-shell")
    database = create_test_database(service_env["DATABASE_URL"])
    server = service_env["CELERY_BROKER_URL"].rsplit("/", 1)[0]
    for db in (6, 7):
        redis.Redis.from_url(f"{server}/{db}").flushdb()
    env = {**service_env, "DATABASE_URL": database, "KYC_REQUIRED_FOR_SETTLEMENT": "true",
           "CELERY_BROKER_URL": f"{server}/6", "CELERY_RESULT_BACKEND": f"{server}/7"}
    subprocess.run([sys.executable, "-m", "cli", "db", "upgrade"], cwd=ROOT, env={
        **os.environ, **env}, check=True, capture_output=True, timeout=300)
    engine = create_engine(database)
    with sessionmaker(bind=engine).begin() as session:
        key = create_api_key(session, name="quickstart", scopes=sorted(SCOPES),
                             pepper=get_settings().api_key_pepper.get_secret_value())
    engine.dispose()
    (home / ".fusion").mkdir()
    (home / ".fusion" / "dev-api-key").write_text(key + "\n")
    port = devstack.free_port()
    processes: list[ManagedProcess] = []
    try:
        processes.append(Worker(env, home / "worker.log").start())
        processes.append(ManagedProcess(
            [sys.executable, "-m", "gunicorn", "--config", "python:web.gunicorn_conf",
             "--bind", f"127.0.0.1:{port}", "--workers", "1", "--no-control-socket",
             "web.wsgi:app"], env, home / "api.log", ready_marker=b"Booting worker",
            name="api").start())
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: _ready(base), timeout=30, interval=0.2, what="API ready")
        yield base, env, home
    finally:
        for process in reversed(processes):
            process.stop()
        drop_test_database(database)


def _ready(base: str) -> bool:
    try:
        return requests.get(base + "/readyz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_the_readme_quickstart_settles_an_escrow_and_a_dvp(
        live_stack: tuple[str, dict[str, str], Path]) -> None:
    base, env, home = live_stack
    # What a second shell has: the stack's addresses (here given, as env.sh would give them),
    # the API's URL, and the venv's bin dir on PATH for `fusion-prime`.
    shell = {**os.environ, **env, "FUSION_API_URL": base,
             "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-c", quickstart_script()], cwd=home, env=shell,
                          capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"

    headers = {"Authorization": f"Bearer {(home / '.fusion' / 'dev-api-key').read_text().strip()}"}

    def get(path: str) -> dict[str, object]:
        response = requests.get(base + path, headers=headers, timeout=10)
        assert response.status_code == 200, response.text
        return dict(response.json())

    escrow_id = re.findall(r'"escrow_id": "([0-9a-f-]{36})"', done.stdout)[0]
    escrow = get(f"/v1/escrows/{escrow_id}")
    assert (escrow["status"], escrow["payee"], escrow["amount"]) == ("released", "carol",
                                                                     "250.00")
    dvp = get("/v1/settlement/commands/quickstart-dvp-1")
    assert (dvp["status"], dvp["type"], dvp["reason"]) == ("settled", "DVP", None)

    def balance(account: str, asset: str) -> str:
        balances = get(f"/v1/ledger/accounts/{account}")["balances"]
        assert isinstance(balances, list)
        return str(next(b["posted"] for b in balances if b["asset"] == asset))

    # Seed 10,000 + deposit 500 - escrow 250 - DVP 3,000; bob gave 1 of his 10 ETH.
    assert balance("alice", "USD") == "7250.00"
    assert balance("carol", "USD") == "250.00"
    assert balance("bob", "USD") == "4000.00"
    assert balance("alice", "ETH").startswith("1.000")
    assert balance("bob", "ETH").startswith("9.000")
