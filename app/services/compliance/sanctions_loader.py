"""Loading an OFAC list directory (sdn.csv, alt.csv, add.csv) as a new list version.

The Consolidated (non-SDN) list is published in the same layout as cons_prim.csv,
cons_alt.csv and cons_add.csv; either set of names is read, for either source.

A load is one transaction: the new version's rows, the previous version superseded, and a
planned re-screen run for the caller to enqueue after commit. Loading files identical to the
active version changes nothing, so a retried or repeated load is harmless.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.orm import Session

from app.domain.compliance.sdn import ParsedList, parse
from app.domain.errors import InvalidInput
from app.persistence.compliance_models import (
    SanctionsAddress,
    SanctionsEntry,
    SanctionsListVersion,
    SanctionsLocation,
    SanctionsName,
)
from app.persistence.db import lock_key_for_transaction
from app.services.compliance import rescreen
from app.services.compliance.lists import SOURCE, SOURCES, active_version
from app.services.compliance.name_text import prepare

FILES = ("sdn.csv", "alt.csv", "add.csv")
CONSOLIDATED_FILES = ("cons_prim.csv", "cons_alt.csv", "cons_add.csv")
_BATCH = 5000


@dataclass(frozen=True, slots=True)
class LoadOutcome:
    version_id: int
    created: bool
    entries: int
    aliases: int
    addresses: int
    locations: int
    skipped_aliases: int = 0
    skipped_addresses: int = 0
    rescreen_run_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"list_version": self.version_id, "created": self.created,
                "entries": self.entries, "aliases": self.aliases,
                "crypto_addresses": self.addresses, "locations": self.locations,
                "skipped_aliases": self.skipped_aliases,
                "skipped_addresses": self.skipped_addresses,
                "rescreen_run_id": self.rescreen_run_id}


def read_directory(directory: Path) -> tuple[dict[str, str], str]:
    """The files' text (keyed by the SDN file names) and one SHA-256 over all of them."""
    names = FILES if (directory / FILES[0]).is_file() else CONSOLIDATED_FILES
    if not (directory / names[0]).is_file():
        raise InvalidInput(f"{directory} has no sdn.csv (or cons_prim.csv)", code="sdn_missing")
    digest = hashlib.sha256()
    texts: dict[str, str] = {}
    for name, published in zip(FILES, names, strict=True):
        path = directory / published
        raw = path.read_bytes() if path.is_file() else b""
        digest.update(name.encode() + b"\0" + raw + b"\0")
        # The published files are ASCII; cp1252 is what older snapshots used where they were not.
        try:
            texts[name] = raw.decode("utf-8")
        except UnicodeDecodeError:
            texts[name] = raw.decode("cp1252")
    return texts, digest.hexdigest()


def _chunks(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [rows[i:i + _BATCH] for i in range(0, len(rows), _BATCH)]


def _store(session: Session, version_id: int, parsed: ParsedList) -> tuple[int, int, int]:
    entries: list[dict[str, Any]] = []
    names: list[dict[str, Any]] = []
    addresses: list[dict[str, Any]] = []
    locations: list[dict[str, Any]] = []
    for e in parsed.entries.values():
        entries.append({"version_id": version_id, "uid": e.uid, "name": e.name,
                        "sdn_type": e.sdn_type, "programs": e.programs, "title": e.title,
                        "remarks": e.remarks})
        for name, kind in ((e.name, "primary"), *((a.name, a.kind) for a in e.aliases)):
            names.append({"version_id": version_id, "uid": e.uid, "name": name, "kind": kind,
                          "normalised": " ".join(sorted(prepare(name).name.tokens))})
        addresses.extend({"version_id": version_id, "uid": e.uid, "currency": a.currency,
                          "address": a.address, "address_lower": a.address.lower()}
                         for a in e.crypto_addresses)
        locations.extend({"version_id": version_id, "uid": e.uid, "address": loc.address,
                          "city": loc.city, "country": loc.country} for loc in e.locations)
    # Entries first: the other tables reference them.
    for model, rows in ((SanctionsEntry, entries), (SanctionsName, names),
                        (SanctionsAddress, addresses), (SanctionsLocation, locations)):
        for chunk in _chunks(rows):
            session.execute(insert(model), chunk)
    return len(names) - len(entries), len(addresses), len(locations)


def load_directory(session: Session, directory: Path, *, label: str | None = None,
                   rescreen_after: bool = True, source: str = SOURCE) -> LoadOutcome:
    """Load the directory as the new active version of `source` (lists.SOURCES), unless it is
    that source's active version already."""
    if source not in SOURCES.values():
        raise InvalidInput(f"unknown sanctions list {source!r}", code="unknown_list")
    texts, digest = read_directory(directory)
    # Two operators loading at once would both supersede the same version; serialise loads.
    lock_key_for_transaction(session, "sanctions-list-load")
    current = active_version(session, source)
    if current is not None and current.content_sha256 == digest:
        return LoadOutcome(current.version_id, False, current.entry_count, current.alias_count,
                           current.address_count, current.location_count)
    parsed = parse(texts["sdn.csv"], texts["alt.csv"], texts["add.csv"])
    if not parsed.entries:
        raise InvalidInput(f"{directory}/sdn.csv holds no entries", code="sdn_empty")
    session.execute(update(SanctionsListVersion)
                    .where(SanctionsListVersion.source == source,
                           SanctionsListVersion.status == "active")
                    .values(status="superseded"))
    version = SanctionsListVersion(source=source, label=label or f"{directory.name}@{digest[:12]}",
                                   content_sha256=digest, status="active", entry_count=0,
                                   alias_count=0, address_count=0, location_count=0)
    session.add(version)
    session.flush()
    aliases, addresses, locations = _store(session, version.version_id, parsed)
    version.entry_count, version.alias_count = len(parsed.entries), aliases
    version.address_count, version.location_count = addresses, locations
    run_id = rescreen.start_run(session, version.version_id) if rescreen_after else None
    return LoadOutcome(version.version_id, True, len(parsed.entries), aliases, addresses,
                       locations, parsed.orphan_aliases, parsed.orphan_addresses, run_id)
