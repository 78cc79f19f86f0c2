"""Batch re-screen of every known party after a new list version (queue `batch`).

A run is planned once (the known parties, split into chunks stored with the run) and each
chunk runs once: its row is locked and marked done in the same transaction as its screenings,
so a redelivered chunk task changes nothing and progress counts every party exactly once.
A run whose version was superseded before it finished stops: the newer version's run covers
the same parties, and screenings against the older list must not land after the newer ones.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, union
from sqlalchemy.orm import Session

from app.config import Settings
from app.domain.errors import NotFound
from app.persistence.compliance_models import (
    AmlCheck,
    KycCase,
    RescreenChunk,
    RescreenRun,
    SanctionsListVersion,
    ScreeningSubject,
)
from app.persistence.models import EscrowRecord, LedgerBalance, new_id
from app.services.compliance import screening

CHUNK_SIZE = 200


def start_run(session: Session, version_id: int) -> str:
    run = RescreenRun(run_id=new_id(), list_version_id=version_id, status="planned")
    session.add(run)
    return run.run_id


def known_parties(session: Session) -> list[str]:
    """Everyone compliance or settlement knows: screening subjects, KYC and AML parties,
    escrow parties and customer accounts."""
    parties = union(
        select(ScreeningSubject.party),
        select(KycCase.party),
        select(AmlCheck.party), select(AmlCheck.counterparty),
        select(EscrowRecord.payer), select(EscrowRecord.payee),
        select(EscrowRecord.arbiter).where(EscrowRecord.arbiter.is_not(None)),
        select(LedgerBalance.account_id).where(LedgerBalance.kind == "customer"),
    ).subquery()
    return sorted(str(p) for p in session.scalars(select(parties.c[0])))


def plan(session: Session, run_id: str, now: datetime, chunk_size: int = CHUNK_SIZE
         ) -> list[int]:
    """Split the run into chunks once; return the chunks still to do (to send again)."""
    run = session.get(RescreenRun, run_id, with_for_update=True)
    if run is None:
        raise NotFound(f"re-screen run {run_id} not found", code="rescreen_not_found")
    if run.status == "cancelled":  # app.services.batches.cancel_batch: nothing more to send
        return []
    if run.status == "planned":
        parties = known_parties(session)
        for seq, start in enumerate(range(0, len(parties), chunk_size)):
            session.add(RescreenChunk(run_id=run_id, seq=seq,
                                      parties=parties[start:start + chunk_size]))
        run.total_parties = len(parties)
        run.chunk_count = -(-len(parties) // chunk_size)
        run.status, run.planned_at = "running", now
        if run.chunk_count == 0:
            run.status, run.finished_at = "completed", now
        session.flush()
    return list(session.scalars(select(RescreenChunk.seq).where(
        RescreenChunk.run_id == run_id, RescreenChunk.done.is_(False))
        .order_by(RescreenChunk.seq)))


def _superseded(session: Session, run: RescreenRun) -> bool:
    version = session.get(SanctionsListVersion, run.list_version_id)
    return version is None or version.status != "active"


def run_chunk(session: Session, run_id: str, seq: int, settings: Settings, now: datetime
              ) -> dict[str, Any]:
    chunk = session.get(RescreenChunk, (run_id, seq), with_for_update=True)
    if chunk is None:
        raise NotFound(f"chunk {seq} of run {run_id} not found", code="rescreen_not_found")
    if chunk.done:
        return {"run_id": run_id, "seq": seq, "status": "already_done"}
    run = session.get(RescreenRun, run_id)
    assert run is not None
    if run.status == "cancelled":  # the chunk stays undone; the run counts no more parties
        return {"run_id": run_id, "seq": seq, "status": "cancelled"}
    new_hits = 0
    superseded = _superseded(session, run)
    if not superseded:
        for party in chunk.parties:
            # One id per (run, party): a redelivered chunk finds its screenings, not new ones.
            screening_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"rescreen:{run_id}:{party}"))
            screening.ensure_screening(session, screening_id, party, source="rescreen",
                                       run_id=run_id)
            outcome = screening.run_screening(session, screening_id, settings, now,
                                              version_id=run.list_version_id)
            new_hits += int(outcome.get("new_hits", 0))
    chunk.done, chunk.new_hits, chunk.finished_at = True, new_hits, now
    # Progress counters are updated under the run's row lock, one chunk at a time.
    run = session.get(RescreenRun, run_id, with_for_update=True, populate_existing=True)
    assert run is not None
    run.chunks_done += 1
    run.parties_done += len(chunk.parties)
    run.new_hits += new_hits
    # A chunk that was running when its run was cancelled still counts; the run stays cancelled.
    if run.chunks_done >= run.chunk_count and run.status == "running":
        run.status, run.finished_at = "completed", now
    return {"run_id": run_id, "seq": seq, "parties": len(chunk.parties), "new_hits": new_hits,
            "status": "superseded" if superseded else "done"}


def progress(session: Session, run_id: str) -> dict[str, Any]:
    run = session.get(RescreenRun, run_id)
    if run is None:
        raise NotFound(f"re-screen run {run_id} not found", code="rescreen_not_found")
    return run_view(run)


def latest_runs(session: Session, limit: int = 10) -> list[RescreenRun]:
    return list(session.scalars(select(RescreenRun).order_by(RescreenRun.created_at.desc())
                                .limit(limit)))


def run_view(run: RescreenRun) -> dict[str, Any]:
    return {"run_id": run.run_id, "list_version": run.list_version_id, "status": run.status,
            "total_parties": run.total_parties, "parties_done": run.parties_done,
            "chunks": run.chunk_count, "chunks_done": run.chunks_done,
            "new_hits": run.new_hits, "created_at": run.created_at.isoformat(),
            "finished_at": run.finished_at.isoformat() if run.finished_at else None}
