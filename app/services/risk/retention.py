"""Margin-health snapshots are kept for RISK_SNAPSHOT_RETENTION_DAYS; older ones are pruned,
except each account's newest, which GET .../margin-health serves however old it is."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session, aliased

from app.persistence.risk_models import RiskSnapshot

PRUNE_BATCH = 5000


def prune_snapshots(session: Session, now: datetime, retention_days: int,
                    batch: int = PRUNE_BATCH) -> int:
    """Delete up to `batch` snapshots older than the retention that have a newer one of their
    account; returns how many. The caller commits and calls again until fewer come back, so
    no single transaction holds millions of row locks. 0 days keeps everything."""
    if retention_days <= 0:
        return 0
    newer = aliased(RiskSnapshot)
    victims = (select(RiskSnapshot.id)
               .where(RiskSnapshot.calculated_at < now - timedelta(days=retention_days),
                      exists().where(newer.account_id == RiskSnapshot.account_id,
                                     newer.id > RiskSnapshot.id))
               .limit(batch))
    result = session.execute(delete(RiskSnapshot).where(RiskSnapshot.id.in_(victims)),
                             execution_options={"synchronize_session": False})
    return int(getattr(result, "rowcount", 0) or 0)
