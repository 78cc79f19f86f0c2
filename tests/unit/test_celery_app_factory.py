"""The Celery app is built from the Settings it is given (an app factory, like
web.create_app), importing it reads no settings, and the worker hooks import no app."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def _python(code: str, **env: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False, env={**os.environ, **env})
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_an_app_takes_its_configuration_from_the_settings_passed_in(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing here may configure the process's default app: later tests need it configured
    # from the services they start.
    import tasks.settlement  # noqa: F401, PLC0415 - registers the shared tasks
    from tasks.celery_app import create_celery_app  # noqa: PLC0415

    # Celery itself reads these variables; the Settings passed in must still win.
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://from-the-environment:6379/0")
    monkeypatch.setenv("CELERY_RESULT_BACKEND", "redis://from-the-environment:6379/1")

    settings = Settings(celery_broker_url="redis://broker.test:6390/4",
                        celery_result_backend="redis://broker.test:6390/5",
                        celery_task_time_limit=41, celery_task_soft_time_limit=40,
                        celery_visibility_timeout=600, celery_retry_backoff_max=17,
                        command_sweep_interval_seconds=7)
    app = create_celery_app(settings)
    with app.connection_for_write() as write, app.connection_for_read() as read:
        for connection in (write, read):
            assert (connection.hostname, connection.port,
                    connection.virtual_host) == ("broker.test", 6390, "4")
    assert app.backend.url == "redis://broker.test:6390/5"
    assert (app.conf.task_time_limit, app.conf.task_soft_time_limit) == (41, 40)
    assert app.conf.broker_transport_options["visibility_timeout"] == 600
    assert app.conf.beat_schedule["sweep-stuck-commands"]["schedule"] == 7
    task = app.tasks["settlement.process_command"]
    assert task.app is app and task.retry_backoff_max == 17 and task.acks_late


def test_importing_the_app_reads_no_settings() -> None:
    # A setting that cannot parse fails only when the app is first configured.
    code = ("from tasks.celery_app import celery_app\nprint('imported')\n"
            "try:\n    celery_app.conf.task_time_limit\nexcept Exception as e:\n"
            "    print(type(e).__name__)")
    assert _python(code, CELERY_TASK_TIME_LIMIT="soon").splitlines() == [
        "imported", "ValidationError"]


def test_the_worker_hooks_import_no_celery_app() -> None:
    code = ("import sys, tasks.fleet_signals, tasks.task_metrics\n"
            "print('tasks.celery_app' in sys.modules, 'tasks.senders' in sys.modules)")
    # tasks/__init__ imports the app for `celery -A tasks`; the hooks themselves must not.
    assert _python("import sys; sys.modules['tasks'] = type(sys)('tasks'); "
                   "sys.modules['tasks'].__path__ = ['tasks']\n" + code) == "False False"


def test_no_hook_module_imports_the_app_even_inside_a_function() -> None:
    """The old circle ran through function-level imports (send_replay, the rejected hook)."""
    for name in ("fleet_signals", "task_metrics", "transient", "broker_client"):
        tree = ast.parse((ROOT / "tasks" / f"{name}.py").read_text())
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                     for alias in node.names}
        assert not imported & {"tasks.celery_app", "tasks.senders"}, name
