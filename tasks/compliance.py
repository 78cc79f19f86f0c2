"""compliance tasks (queue `compliance`, and `batch` for the re-screen): decode, call one service
in one unit of work, send follow-up tasks only after it committed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from app.config import get_settings
from app.persistence.db import unit_of_work
from app.services.compliance import aml, rescreen, screening
from app.services.compliance.pii import check_pii_key
from tasks.celery_app import celery_app, fusion_task

# A worker (and the API, which imports the send helpers) must not start in production without
# a PII key. Checked at import because Celery's startup signals swallow exceptions.
check_pii_key(get_settings())


def _now() -> datetime:
    return datetime.now(UTC)


def send_check(check_id: str) -> str:
    task_id = f"compliance-check:{check_id}"
    celery_app.send_task("compliance.check_transaction", kwargs={"check_id": check_id},
                         task_id=task_id)
    return task_id


def send_screening(screening_id: str) -> str:
    task_id = f"compliance-screening:{screening_id}"
    celery_app.send_task("compliance.screen_party", kwargs={"screening_id": screening_id},
                         task_id=task_id)
    return task_id


def send_rescreen(run_id: str) -> str:
    """(Re)start a re-screen run: plans it once and sends its unfinished chunks."""
    task_id = f"rescreen:{run_id}:plan:{_now().timestamp()}"
    celery_app.send_task("batch.sanctions_rescreen", kwargs={"run_id": run_id}, task_id=task_id)
    return task_id


@fusion_task("compliance.check_transaction")
def check_transaction(check_id: str) -> dict[str, Any]:
    with unit_of_work() as session:
        view = aml.run_check(session, check_id, _now())
    return {"check_id": check_id, "score": view["score"], "level": view["level"],
            "alert_id": view["alert_id"]}


@fusion_task("compliance.screen_party")
def screen_party(screening_id: str) -> dict[str, Any]:
    with unit_of_work() as session:
        view = screening.run_screening(session, screening_id, get_settings(), _now())
    return {"screening_id": screening_id, "decision": view["decision"],
            "hits": len(view["hits"])}


@fusion_task("batch.sanctions_rescreen")
def sanctions_rescreen(run_id: str) -> dict[str, Any]:
    with unit_of_work() as session:
        pending = rescreen.plan(session, run_id, _now())
    for seq in pending:
        celery_app.send_task("batch.sanctions_rescreen_chunk",
                             kwargs={"run_id": run_id, "seq": seq},
                             task_id=f"rescreen:{run_id}:{seq}")
    return {"run_id": run_id, "chunks_sent": len(pending)}


@fusion_task("batch.sanctions_rescreen_chunk")
def sanctions_rescreen_chunk(run_id: str, seq: int) -> dict[str, Any]:
    with unit_of_work() as session:
        return rescreen.run_chunk(session, run_id, seq, get_settings(), _now())


@fusion_task("compliance.resend_pending")
def resend_pending(older_than_seconds: int = 60) -> dict[str, Any]:
    """Re-send checks and screenings accepted but still pending (their send after commit was
    lost); for celery beat. The tasks are idempotent, so a duplicate is harmless."""
    before = _now() - timedelta(seconds=older_than_seconds)
    with unit_of_work() as session:
        checks = aml.pending_checks(session, before)
        screenings = screening.pending_screenings(session, before)
    for check_id in checks:
        send_check(check_id)
    for screening_id in screenings:
        send_screening(screening_id)
    return {"checks": len(checks), "screenings": len(screenings)}
