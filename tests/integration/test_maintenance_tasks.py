"""Maintenance tasks on a real worker: the database ping tells an operator a worker reaches
PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.support import Worker


def test_ping_database_answers_with_the_database_clock(worker: Worker) -> None:
    from tasks.celery_app import celery_app  # noqa: PLC0415

    asked = datetime.now(UTC)
    result = celery_app.send_task("maintenance.ping_database").get(timeout=30)
    assert result["status"] == "ok"
    answered = datetime.fromisoformat(result["database_time"])
    assert abs(answered - asked) < timedelta(seconds=30)
