"""The compliance gate's facts about parties, read in one statement for all of them.

Each lateral join is one indexed lookup (see the indexes on the tables named here): a
settlement batch asks about every party its commands name, and the gate's rules
(app/domain/compliance/gate.py) decide on the PartyFacts this returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection

from app.domain.compliance.alerts import AlertKind, AlertStatus
from app.domain.compliance.gate import PartyFacts
from app.persistence.db import Statement, run_on_driver

_FACTS_SQL = """
    WITH active AS (
        SELECT version_id FROM sanctions_list_versions
        WHERE source = %(source)s AND status = 'active' LIMIT 1
    )
    SELECT p.party, coalesce(listed.version_id, active.version_id) AS version_id,
           listed.uid, listed.currency, listed.address, listed.source,
           screening.screening_id, screening.decision, screening.hits,
           screening.list_version_id,
           kyc.case_id, kyc.status AS kyc_status,
           aml.alert_ids
    FROM {parties}
    LEFT JOIN active ON true
    LEFT JOIN LATERAL (
        -- every active list (SDN, Consolidated...), the preferred source first: one indexed
        -- lookup per active version
        SELECT a.uid, a.currency, a.address, a.version_id, v.source
        FROM sanctions_list_versions AS v
        JOIN sanctions_addresses AS a
          ON a.version_id = v.version_id AND a.address_lower = lower(p.party)
        WHERE v.status = 'active'
        ORDER BY v.source <> %(source)s, v.source LIMIT 1
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
# The payers and payees of a settlement batch, read from the commands themselves, so that
# the facts are asked for in the same round trip that locks the commands. Sorted by party:
# the caller keys them by party, the order only keeps the plan simple.
_FACTS_OF_COMMANDS = _FACTS_SQL.format(
    parties="(SELECT DISTINCT named.party, named.party AS ord FROM commands AS c"
            " CROSS JOIN LATERAL (VALUES (c.payer), (c.payee)) AS named(party)"
            " WHERE c.command_id = ANY(CAST(%(command_ids)s AS text[]))) AS p")
_ACTIVE_ALERT_STATUSES = [s.value for s in AlertStatus if s.active]


def _params(sanctions_source: str) -> dict[str, Any]:
    return {"source": sanctions_source, "aml_kind": AlertKind.AML_CHECK.value,
            "active_statuses": _ACTIVE_ALERT_STATUSES}


def party_facts(conn: Connection, parties: Sequence[str], *,
                sanctions_source: str) -> list[PartyFacts]:
    """The facts about each party, in the order given (parties distinct, normalised): a
    listed address is looked for on every active list, `sanctions_source` first."""
    return facts_from(run_on_driver(conn, _FACTS, {**_params(sanctions_source),
                                                   "parties": list(parties)}))


def facts_of_commands(command_ids: Sequence[str], *, sanctions_source: str) -> Statement:
    """The facts about every payer and payee the commands name, as a statement to send with
    their lock; facts_from reads its rows."""
    return _FACTS_OF_COMMANDS, {**_params(sanctions_source), "command_ids": list(command_ids)}


def facts_from(rows: Iterable[Any]) -> list[PartyFacts]:
    return [PartyFacts(
        party=r.party, list_version_id=r.version_id, listed_uid=r.uid,
        listed_currency=r.currency, listed_address=r.address, listed_source=r.source,
        screening_id=r.screening_id,
        screening_decision=r.decision, screening_hits=tuple(r.hits or ()),
        screening_list_version_id=r.list_version_id, kyc_case_id=r.case_id,
        kyc_status=r.kyc_status, aml_alert_ids=tuple(r.alert_ids or ()))
        for r in rows]
