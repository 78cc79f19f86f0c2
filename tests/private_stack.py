"""PostgreSQL, Redis and an API of a test's own (its own devstack data dir), for tests that stop
or restart servers: the session's shared servers stay up for every other test.

The servers are durable (the defaults `make run` gets): a test that crashes PostgreSQL checks
that nothing acknowledged is lost, which the fast settings would not promise.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from tests.support import ROOT, create_test_database, devstack, wait_for


class PrivateStack:
    def __init__(self, data_dir: Path, base_env: dict[str, str]) -> None:
        self.data_dir, self.base_env = data_dir, base_env
        self.env: dict[str, str] = {}

    def start(self) -> PrivateStack:
        server = devstack.ensure_postgres(self.data_dir, fast_unsafe=False)
        broker = devstack.ensure_redis(self.data_dir, fast_unsafe=False)
        database = create_test_database(server)
        from alembic import command  # noqa: PLC0415
        from alembic.config import Config  # noqa: PLC0415

        config = Config(str(ROOT / "alembic.ini"))
        config.attributes["database_url"] = database
        command.upgrade(config, "head")
        self.env = {**self.base_env, "DATABASE_URL": database, "CELERY_BROKER_URL": broker,
                    "CELERY_RESULT_BACKEND": broker.removesuffix("/0") + "/1"}
        return self

    def engine(self) -> Any:
        return create_engine(self.env["DATABASE_URL"], pool_pre_ping=True)

    def api_key(self, scopes: list[str]) -> str:
        from app.config import get_settings  # noqa: PLC0415
        from app.services.apikeys import create_api_key  # noqa: PLC0415

        pepper = get_settings().api_key_pepper.get_secret_value()
        engine = self.engine()
        try:
            with Session(engine) as session, session.begin():
                return create_api_key(session, name="private", scopes=scopes, pepper=pepper)
        finally:
            engine.dispose()

    def scalar(self, sql: str, **params: Any) -> Any:
        engine = self.engine()
        try:
            with engine.begin() as conn:
                return conn.execute(text(sql), params).scalar()
        finally:
            engine.dispose()

    def stop_postgres(self) -> None:
        devstack.stop_postgres(self.data_dir)

    def start_postgres(self) -> None:
        server = devstack.ensure_postgres(self.data_dir, fast_unsafe=False)
        assert self.env["DATABASE_URL"].startswith(server.rsplit("/", 1)[0] + "/"), server

    def crash_postgres(self) -> None:
        """`pg_ctl restart -m immediate`: a crash as far as the data is concerned."""
        devstack.restart_postgres(self.data_dir, mode="immediate")

    def stop_redis(self) -> None:
        devstack.stop_redis(self.data_dir)

    def start_redis(self) -> None:
        assert devstack.ensure_redis(self.data_dir, fast_unsafe=False) == \
            self.env["CELERY_BROKER_URL"]

    def close(self) -> None:
        devstack.stop_all(self.data_dir, purge=True)


class Api:
    """A real gunicorn on the stack, as `make run` starts it."""

    def __init__(self, env: dict[str, str], log_path: Path, workers: int = 2) -> None:
        self.port = devstack.free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        with log_path.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "--config", "python:web.gunicorn_conf",
                 "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers),
                 "--no-control-socket", "web.wsgi:app"],
                cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        wait_for(self._up, timeout=60, interval=0.2, what="gunicorn up")

    def _up(self) -> bool:
        try:
            return requests.get(self.base + "/healthz", timeout=2).status_code == 200
        except requests.RequestException:  # refused, or accepted by a master still booting
            return False

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def settlement_body(command_id: str, payer: str, payee: str,
                    amount: str = "1.00") -> dict[str, Any]:
    return {"command_id": command_id, "type": "COLLATERAL_TRANSFER", "workflow_id": command_id,
            "account_ref": "private", "payer": payer, "payee": payee, "asset": "USD",
            "amount": amount,
            "deadline": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}

