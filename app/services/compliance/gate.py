"""The compliance gate (DOMAIN.md §4): may we act for this party? clear, review or blocked.

    party_gate(session, party, settings) -> GateDecision
    party_gates(session, parties, settings) -> list[GateDecision]

blocked: the party id is a crypto address on the active sanctions list; or its latest
         screening decided `match`; or its latest decided KYC case was rejected.
review:  its latest screening decided `possible`; or it has an open (or investigating) high
         AML alert; or, when settings.kyc_required_for_settlement, its latest decided KYC case
         is not an approved one (none yet counts).
clear:   none of these.
It reads stored decisions only, in one statement for all the parties asked about (indexed
lookups, no screening), so it is cheap enough for every command validation and release.
The settings come from the caller, never from the environment here, so tests and callers
decide whether KYC is required.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.orm import Session

from app.config import Settings
from app.domain.compliance.alerts import AlertKind, AlertStatus
from app.domain.compliance.gate import GateCode, GateDecision, GateReason, GateStatus
from app.domain.compliance.kyc import KycStatus
from app.domain.escrow import normalise_party
from app.persistence.db import Statement, run_on_driver
from app.services.compliance.lists import SOURCE

# Everything the gate needs about each party, in one round trip: a settlement command asks
# about two parties, and five queries each dominated its cost. Each lateral join is one
# indexed lookup (see the indexes on the tables named here).
_FACTS_SQL = """
    WITH active AS (
        SELECT version_id FROM sanctions_list_versions
        WHERE source = %(source)s AND status = 'active' LIMIT 1
    )
    SELECT p.party, active.version_id,
           listed.uid, listed.currency, listed.address,
           screening.screening_id, screening.decision, screening.hits,
           screening.list_version_id,
           kyc.case_id, kyc.status AS kyc_status,
           aml.alert_ids
    FROM {parties}
    LEFT JOIN active ON true
    LEFT JOIN LATERAL (
        SELECT uid, currency, address FROM sanctions_addresses
        WHERE version_id = active.version_id AND address_lower = lower(p.party) LIMIT 1
    ) AS listed ON true
    LEFT JOIN LATERAL (
        SELECT screening_id, decision, hits, list_version_id FROM screenings
        WHERE party = p.party AND status = 'completed'
        ORDER BY completed_at DESC LIMIT 1
    ) AS screening ON true
    LEFT JOIN LATERAL (
        SELECT case_id, status FROM kyc_cases
        WHERE party = p.party AND decided_at IS NOT NULL
        ORDER BY decided_at DESC LIMIT 1
    ) AS kyc ON true
    LEFT JOIN LATERAL (
        SELECT array_agg(alert_id ORDER BY opened_at) AS alert_ids FROM compliance_alerts
        WHERE party = p.party AND kind = %(aml_kind)s AND level = 'high'
          AND status = ANY(CAST(%(active_statuses)s AS text[]))
    ) AS aml ON true
    WHERE p.party IS NOT NULL
    ORDER BY p.ord
"""
_FACTS = _FACTS_SQL.format(parties="unnest(CAST(%(parties)s AS text[])) WITH ORDINALITY"
                                   " AS p(party, ord)")
# Every settlement asks about one or two parties. PostgreSQL plans an array of unknown length
# as ten rows, so the prepared statement above is planned afresh on every call (a custom plan
# always looks cheaper); a fixed two-row source lets it keep one cached plan.
_FACTS_PAIR = _FACTS_SQL.format(
    parties="(VALUES (CAST(%(first)s AS text), 1), (CAST(%(second)s AS text), 2))"
            " AS p(party, ord)")
# A settlement command's payer and payee, read from the command itself, so that the facts
# can be asked for in the same round trip that locks the command.
_FACTS_OF_COMMAND = _FACTS_SQL.format(
    parties="(SELECT named.party, named.ord FROM commands AS c"
            " CROSS JOIN LATERAL (VALUES (c.payer, 1), (c.payee, 2)) AS named(party, ord)"
            " WHERE c.command_id = %(command_id)s) AS p")
# The gate's constants as its SQL takes them; settle_if_clear (alembic 0008) takes them too.
GATE_PARAMS: dict[str, Any] = {
    "source": SOURCE, "aml_kind": AlertKind.AML_CHECK.value,
    "active_statuses": [s.value for s in AlertStatus if s.active]}


def _facts(session: Session, parties: Sequence[str]) -> list[Any]:
    # Through the driver: this runs in every settlement (see db.run_on_driver).
    if len(parties) <= 2:
        first, second = (*parties, None, None)[:2]
        return run_on_driver(session.connection(), _FACTS_PAIR,
                             {**GATE_PARAMS, "first": first, "second": second})
    return run_on_driver(session.connection(), _FACTS, {**GATE_PARAMS, "parties": list(parties)})


def facts_of_command(command_id: str) -> Statement:
    """The gate's facts about a command's payer and payee, as a statement to send with the
    command's lock; decisions_from_facts turns its rows into decisions."""
    return _FACTS_OF_COMMAND, {**GATE_PARAMS, "command_id": command_id}


def decisions_from_facts(rows: Sequence[Any], parties: Iterable[str],
                         settings: Settings) -> list[GateDecision] | None:
    """The decisions for `parties` from facts fetched earlier (facts_of_command), or None
    when those facts are not about exactly these parties, in this order."""
    if [row.party for row in rows] != _distinct(parties):
        return None
    return _decisions(rows, settings)


def _distinct(parties: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(normalise_party(p) for p in parties))


def _decisions(rows: Iterable[Any], settings: Settings) -> list[GateDecision]:
    required = settings.kyc_required_for_settlement
    return [GateDecision(row.party, (*_sanctions_reasons(row), *_kyc_reasons(row, required),
                                     *_aml_reasons(row)))
            for row in rows]


def _sanctions_reasons(row: Any) -> list[GateReason]:
    reasons = []
    if row.uid is not None:
        reasons.append(GateReason(
            GateCode.SANCTIONS_MATCH, GateStatus.BLOCKED,
            f"{row.currency} address {row.address} is on sanctions list version "
            f"{row.version_id} (entry {row.uid})",
            {"entry_uid": row.uid, "list_version": row.version_id, "address": row.address}))
    if row.decision in ("match", "possible"):
        hits = [h for h in row.hits or [] if h["decision"] == row.decision]
        names = ", ".join(f"{h['matched_name']} ({h['entry_uid']}, {h['score']})"
                          for h in hits[:3])
        blocked = row.decision == "match"
        reasons.append(GateReason(
            GateCode.SANCTIONS_MATCH if blocked else GateCode.SANCTIONS_POSSIBLE_MATCH,
            GateStatus.BLOCKED if blocked else GateStatus.REVIEW,
            f"screening {row.screening_id} {row.decision}: {names}",
            {"screening_id": row.screening_id, "list_version": row.list_version_id,
             "entry_uids": [h["entry_uid"] for h in hits]}))
    return reasons


def _kyc_reasons(row: Any, required: bool) -> list[GateReason]:
    if row.case_id is not None and row.kyc_status == KycStatus.REJECTED.value:
        return [GateReason(GateCode.KYC_REJECTED, GateStatus.BLOCKED,
                           f"KYC case {row.case_id} was rejected", {"case_id": row.case_id})]
    if required and (row.case_id is None or row.kyc_status != KycStatus.APPROVED.value):
        return [GateReason(GateCode.KYC_NOT_APPROVED, GateStatus.REVIEW,
                           "no approved KYC case, and KYC is required for settlement", {})]
    return []


def _aml_reasons(row: Any) -> list[GateReason]:
    if not row.alert_ids:
        return []
    return [GateReason(GateCode.AML_HIGH_RISK_ALERT, GateStatus.REVIEW,
                       f"{len(row.alert_ids)} open high-risk AML alert(s)",
                       {"alert_ids": list(row.alert_ids)})]


def sanctions_reasons(session: Session, party: str) -> list[GateReason]:
    """The sanctions part of the gate alone: a listed address or the latest screening."""
    return _sanctions_reasons(_facts(session, [party])[0])


def party_gates(session: Session, parties: Iterable[str],
                settings: Settings) -> list[GateDecision]:
    """The gate's decision for each distinct party (account ids or chain addresses), in the
    order first given."""
    who = _distinct(parties)
    if not who:
        return []
    return _decisions(_facts(session, who), settings)


def party_gate(session: Session, party: str, settings: Settings) -> GateDecision:
    """The gate's decision for one party (an account id or a chain address)."""
    return party_gates(session, [party], settings)[0]
