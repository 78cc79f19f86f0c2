"""The compliance gate as services ask it: load the stored facts about parties, and let the
domain decide (app/domain/compliance/gate.py holds the rules).

    party_gate(session, party, settings) -> GateDecision
    party_gates(session, parties, settings) -> list[GateDecision]
    require_clear(session, parties, settings): refuse (blocked) or hold (review)

It reads stored decisions only, in one statement for all the parties asked about (indexed
lookups, no screening), so it is cheap enough for every command validation and release.
The settings come from the caller, never from the environment here, so tests and callers
decide whether KYC is required.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from app.config import Settings
from app.domain.compliance import gate as rules
from app.domain.compliance.gate import GateDecision, GateReason
from app.domain.escrow import normalise_party
from app.persistence import gate_store
from app.services.compliance.lists import SOURCE


def _distinct(parties: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(normalise_party(p) for p in parties))


def sanctions_reasons(session: Session, party: str) -> list[GateReason]:
    """The sanctions part of the gate alone: a listed address or the latest screening."""
    (facts,) = gate_store.party_facts(session.connection(), [party],
                                      sanctions_source=SOURCE)
    return rules.sanctions_reasons(facts)


def party_gates(session: Session, parties: Iterable[str],
                settings: Settings) -> list[GateDecision]:
    """The gate's decision for each distinct party (account ids or chain addresses), in the
    order first given."""
    who = _distinct(parties)
    if not who:
        return []
    facts = gate_store.party_facts(session.connection(), who, sanctions_source=SOURCE)
    return [rules.decide(f, kyc_required=settings.kyc_required_for_settlement) for f in facts]


def party_gate(session: Session, party: str, settings: Settings) -> GateDecision:
    """The gate's decision for one party (an account id or a chain address)."""
    return party_gates(session, [party], settings)[0]


def require_clear(session: Session, parties: Iterable[str], settings: Settings) -> None:
    """Raise GuardFailed(compliance_blocked) or Held(compliance_review) unless every party is
    clear (see app.domain.compliance.gate.require_clear)."""
    rules.require_clear(party_gates(session, parties, settings))
