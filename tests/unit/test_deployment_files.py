"""docker/compose.yaml and the Dockerfile point at real entrypoints and consume every queue."""

from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
QUEUES = {"settlement", "risk", "compliance", "alerts", "batch"}


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text()))


def test_compose_parses_and_every_service_has_a_healthcheck_or_says_why_not() -> None:
    services = compose()["services"]
    assert {"postgres", "redis", "migrate", "api", "worker-settlement", "beat", "pubsub",
            "pubsub-init", "bridge", "outbox-relay"} <= set(services)
    for name, service in services.items():
        check = service.get("healthcheck")
        assert check, f"{name} has no healthcheck"
        if check.get("disable"):
            assert name in ("migrate", "pubsub-init", "beat"), f"{name} disables its healthcheck"


def test_every_queue_has_a_worker() -> None:
    consumed: set[str] = set()
    for service in compose()["services"].values():
        command = service.get("command") or []
        if command[:4] == ["celery", "-A", "tasks", "worker"]:
            consumed |= set(command[command.index("-Q") + 1].split(","))
    assert consumed >= QUEUES


def test_commands_point_at_real_entrypoints() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    for name, service in compose()["services"].items():
        command = service.get("command") or []
        if not command or service.get("image", "").startswith(("postgres", "redis", "gcr.io")):
            continue
        program = command[0]
        if program == "fusion-prime":
            assert "fusion-prime" in scripts
            from click.testing import CliRunner  # noqa: PLC0415

            from cli.main import cli  # noqa: PLC0415

            result = CliRunner().invoke(cli, [*command[1:], "--help"])
            assert result.exit_code == 0, (name, result.output)
        elif program == "celery":
            assert importlib.util.find_spec(command[command.index("-A") + 1]) is not None
        elif program == "gunicorn":
            module, _, attribute = command[-1].partition(":")
            assert importlib.util.find_spec(module) is not None, name
            assert attribute == "app"
        else:
            raise AssertionError(f"{name}: unknown program {program}")


def test_dockerfile_copies_every_package() -> None:
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    for package in ("app", "bridges", "cli", "tasks", "web", "alembic"):
        assert f"COPY {package} ./{package}" in dockerfile
