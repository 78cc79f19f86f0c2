"""Effects of chain escrow events that a second application would double: nothing keys them by
the event, so these counts can fail (an escrow's id is new on every application)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import text

from app.persistence.db import unit_of_work

_EFFECTS = text("""
    SELECT c.contract,
           (SELECT count(*) FROM escrows e WHERE e.contract_address = c.contract),
           (SELECT count(*) FROM ledger_transfers t JOIN escrows e
                ON t.transfer_id = e.funding_transfer_id WHERE e.contract_address = c.contract),
           (SELECT count(*) FROM outbox o WHERE o.event_type = 'escrow.state_changed'
                AND o.payload->>'contract_address' = c.contract
                AND o.payload->>'status' = 'created')
      FROM unnest(CAST(:contracts AS text[])) AS c(contract)
""")


def escrow_effects(contracts: Iterable[str]) -> dict[str, tuple[int, int, int]]:
    """contract -> (escrows, funding transfers, `created` announcements)."""
    with unit_of_work() as session:
        rows = session.execute(_EFFECTS, {"contracts": list(contracts)}).all()
    return {contract: (int(a), int(b), int(c)) for contract, a, b, c in rows}


def created_once(contracts: Iterable[str]) -> tuple[int, dict[str, tuple[int, int, int]]]:
    """How many contracts have exactly one of each effect, and those that have another count."""
    effects = escrow_effects(contracts)
    odd = {c: e for c, e in effects.items() if e != (1, 1, 1)}
    return len(effects) - len(odd), odd
