"""Liveness and readiness, without authentication (for load balancers and orchestrators)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from sqlalchemy import text

from app.persistence.db import get_engine
from tasks.celery_app import celery_app
from web.unavailable import RETRY_AFTER_SECONDS

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


def _database_ok() -> str | None:
    try:
        with get_engine().connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means "not ready"; the kind is reported
        return type(exc).__name__
    return None


def _broker_ok() -> str | None:
    try:
        with celery_app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:  # any failure means "not ready"; the kind is reported
        return type(exc).__name__
    return None


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    checks = {"database": _database_ok(), "broker": _broker_ok()}
    down = sorted(name for name, error in checks.items() if error)
    body: dict[str, object] = {
        "status": "unavailable" if down else "ready",
        "checks": {name: f"down: {error}" if error else "up" for name, error in checks.items()},
    }
    if not down:
        return jsonify(body), 200
    body["down"] = down
    response = jsonify(body)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response, 503
