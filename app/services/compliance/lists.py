"""Which sanctions list version is active, and what it holds."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.persistence.compliance_models import SanctionsListVersion, SanctionsName

SOURCE = "OFAC-SDN"


def active_version(session: Session, source: str = SOURCE) -> SanctionsListVersion | None:
    return session.scalars(select(SanctionsListVersion).where(
        SanctionsListVersion.source == source, SanctionsListVersion.status == "active")).first()


def version_summary(session: Session, version_id: int) -> dict[str, Any]:
    version = session.get(SanctionsListVersion, version_id)
    if version is None:
        return {}
    names = session.scalar(select(func.count()).select_from(SanctionsName)
                           .where(SanctionsName.version_id == version_id))
    return {"list_version": version.version_id, "source": version.source, "label": version.label,
            "status": version.status, "content_sha256": version.content_sha256,
            "entries": version.entry_count, "aliases": version.alias_count,
            "names": names, "crypto_addresses": version.address_count,
            "locations": version.location_count, "loaded_at": version.loaded_at.isoformat()}
