"""The lock that serialises everything that decides a party's screening outcome."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session


def lock_party_screening(session: Session, party: str) -> None:
    """Hold, until the transaction ends, the one lock a screening and a reviewer's decision
    of the same party both take: "new since the previous screening" stays exact, and a
    review never interleaves with a screening."""
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                    {"key": f"screening:{party}"})
