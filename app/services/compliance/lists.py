"""Which sanctions list versions are active, and what they hold.

One version per source is active at a time: the OFAC SDN list and the OFAC Consolidated
(non-SDN) list load through the same loader in the same CSV layout, and screening covers every
active source.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.persistence.compliance_models import SanctionsListVersion, SanctionsName

SOURCE = "OFAC-SDN"
CONSOLIDATED = "OFAC-CONS"
SOURCES = {"sdn": SOURCE, "consolidated": CONSOLIDATED}


def active_version(session: Session, source: str = SOURCE) -> SanctionsListVersion | None:
    return session.scalars(select(SanctionsListVersion).where(
        SanctionsListVersion.source == source, SanctionsListVersion.status == "active")).first()


def active_versions(session: Session) -> list[SanctionsListVersion]:
    """Every source's active version, the SDN list first."""
    found = session.scalars(select(SanctionsListVersion).where(
        SanctionsListVersion.status == "active")).all()
    return sorted(found, key=lambda v: (v.source != SOURCE, v.source))


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
