"""`fusion-prime` in a second shell: with DATABASE_URL/CELERY_* unset it finds the stack
through the checkout's .fusion/env.sh (from a subdirectory too), and when that stack is gone
or there is none it says so in one line, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT, devstack

pytestmark = pytest.mark.integration

STACK = ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "FUSION_DATA_DIR",
         "PUBSUB_EMULATOR_HOST")


def _env_file(checkout: Path, values: dict[str, str]) -> Path:
    (checkout / ".fusion").mkdir(parents=True, exist_ok=True)
    path = checkout / ".fusion" / "env.sh"
    path.write_text("".join(f"export {k}='{v}'\n" for k, v in values.items()))
    return path


def _cli(cwd: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """A fresh process with none of the stack's variables, as a second shell has."""
    env = {k: v for k, v in os.environ.items() if k not in STACK} | extra
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def _one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, done.stderr
    return errors[0]


def test_a_second_shell_reaches_the_checkouts_stack(service_env: dict[str, str],
                                                    tmp_path: Path) -> None:
    env_file = _env_file(tmp_path, {k: service_env[k] for k in STACK if k in service_env})
    inside = tmp_path / "docs" / "notes"
    inside.mkdir(parents=True)

    created = _cli(inside, "apikey", "create", "--name", "second-shell",
                   "--scope", "settlement:read")
    assert created.returncode == 0, created.stderr
    key_id = created.stdout.strip().split("_")[1]
    # It landed in this test's database, not in whatever answers on the default ports.
    from app.persistence.db import unit_of_work  # noqa: PLC0415
    from app.services import apikeys  # noqa: PLC0415

    with unit_of_work() as session:
        assert key_id in {k.key_id for k in apikeys.list_api_keys(session)}
    listed = _cli(inside, "apikey", "list")
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["key", "id", "name", "scopes", "state"]
    assert any(row.split()[:2] == [key_id, "second-shell"] for row in rows), rows
    as_json = _cli(inside, "apikey", "list", "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert isinstance(json.loads(as_json.stdout), list)
    empty = _cli(inside, "deadletters", "list", "--reason", "no_such_reason")
    assert (empty.returncode, empty.stdout.strip()) == (0, "no dead letters")
    fleet = _cli(inside, "fleet", "status", "--json")
    assert fleet.returncode == 0, fleet.stderr
    assert {q["queue"] for q in json.loads(fleet.stdout)["queues"]} >= {"settlement"}

    # The stack is gone: its servers no longer answer on the ports env.sh names.
    dead = {"DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:{devstack.free_port()}"
                            "/fusion",
            "CELERY_BROKER_URL": f"redis://127.0.0.1:{devstack.free_port()}/0",
            "PUBSUB_EMULATOR_HOST": f"127.0.0.1:{devstack.free_port()}"}
    _env_file(tmp_path, dead)
    database = _one_line_error(_cli(inside, "apikey", "list"))
    assert dead["DATABASE_URL"] in database and str(env_file) in database
    assert "cannot reach PostgreSQL" in database
    broker = _one_line_error(_cli(inside, "fleet", "status"))
    assert "cannot reach Redis" in broker and dead["CELERY_BROKER_URL"] in broker
    emulator = _one_line_error(_cli(inside, "pubsub", "init"))
    assert "cannot reach the Pub/Sub emulator" in emulator
    assert dead["PUBSUB_EMULATOR_HOST"] in emulator


def test_without_a_stack_it_refuses_instead_of_trying_the_defaults(tmp_path: Path) -> None:
    line = _one_line_error(_cli(tmp_path, "batch", "list",
                                FUSION_DATA_DIR=str(tmp_path / "none")))
    assert "no Fusion Prime stack found" in line
    assert str(tmp_path / "none" / "env.sh") in line and "make run" in line


def test_the_checkout_root_is_the_fallback(tmp_path: Path) -> None:
    from cli import stack  # noqa: PLC0415

    looked = stack.candidates(tmp_path)
    assert looked[0] == tmp_path / ".fusion" / "env.sh"
    assert looked[-1] == ROOT / ".fusion" / "env.sh"
