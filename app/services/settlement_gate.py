"""The compliance gate as settlement applies it: `blocked` refuses, `review` holds."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy.orm import Session

from app.config import Settings
from app.domain.compliance.gate import GateDecision, GateStatus
from app.domain.errors import GuardFailed, Held
from app.services.compliance.gate import party_gates


def require_clear(session: Session, parties: Iterable[str], settings: Settings) -> None:
    """Raise GuardFailed(compliance_blocked) or Held(compliance_review) unless every party is
    clear; the message names each party's reasons, for the command and the escrow."""
    refuse_unless_clear(party_gates(session, parties, settings))


def refuse_unless_clear(decisions: Sequence[GateDecision]) -> None:
    """require_clear on decisions already made (see compliance.gate.decisions_from_facts)."""
    blocked = [d for d in decisions if d.status is GateStatus.BLOCKED]
    if blocked:
        raise GuardFailed("; ".join(f"{d.party} {d.summary()}" for d in blocked),
                          code="compliance_blocked")
    held = [d for d in decisions if d.status is GateStatus.REVIEW]
    if held:
        raise Held("; ".join(f"{d.party} {d.summary()}" for d in held),
                   code="compliance_review")
