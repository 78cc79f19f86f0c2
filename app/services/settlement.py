"""Settlement commands: deposits, collateral transfers and DVP (both legs or neither), settled
in batches, a single command being a batch of one.

settle_batch is one unit of work for any number of commands, in three round trips between
BEGIN and COMMIT (app/persistence/settlement_store.py): the first locks the commands and
reads the compliance gate's facts about every party they name (and, with `take_waiting`,
takes other single commands still waiting into the batch: under load, one task settles what
would otherwise be many tasks' work; their own tasks then find them terminal and skip them;
a fourth round trip reads the facts of those taken); the second creates and locks
every balance their legs move, in one sorted order; the third writes every outcome. Which
balances are needed is the rules' to say (a deposit's bank account, a DVP's delivery leg),
so they are asked for once the commands are read, not guessed in SQL. In between, the rules
(app/domain/settlement.py) decide each command in order on the running balances, so a
refusal writes only its own record, and nothing is written for a command already terminal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from app.config import Settings
from app.domain import settlement as rules
from app.domain.compliance import gate as gate_rules
from app.domain.errors import Conflict, NotFound
from app.domain.ledger import BalanceState
from app.domain.settlement import SETTLEMENT_TYPES, Decision
from app.persistence import gate_store
from app.persistence import settlement_store as store
from app.persistence.db import run_together
from app.persistence.models import new_id
from app.services import ledger
from app.services.commands import Outcome, escrow_hold_reason, outcome_data
from app.services.compliance.lists import SOURCE
from app.services.outbox import SETTLEMENT_RESULTS, stamped

__all__ = ["SETTLEMENT_TYPES", "BatchResult", "process_command", "settle_batch"]


@dataclass(frozen=True, slots=True)
class BatchResult:
    """Each settlement command's outcome, in the order decided (those given, then those
    taken); ids that name no command, or a command of another kind, are listed apart and
    left untouched; `taken` lists the waiting commands taken into the batch."""

    outcomes: list[Outcome] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)
    wrong_type: list[str] = field(default_factory=list)
    taken: list[str] = field(default_factory=list)


def settle_batch(session: Session, command_ids: Sequence[str], now: datetime,
                 settings: Settings, settled_by: str, *, take_waiting: int = 0
                 ) -> BatchResult:
    """Settle each command exactly once: the row locks serialise duplicate deliveries and
    overlapping batches, and a command already terminal keeps its first outcome. Each
    command's record names `settled_by` (the batch or task) when it becomes terminal.

    With `take_waiting`, up to that many other commands submitted on their own and still
    waiting are settled in the same unit of work, after those given, oldest first: nothing
    waits to fill a batch (at low load there are none to take), and if the unit of work dies
    its locks go with it, so each taken command is still settled once, by whoever comes next
    (its own task, redelivered or re-sent by the sweeper)."""
    ids = list(dict.fromkeys(command_ids))
    if not ids:
        return BatchResult()
    conn = session.connection()
    statements = [store.lock_commands(ids),
                  gate_store.facts_of_commands(ids, sanctions_source=SOURCE)]
    if take_waiting > 0:
        statements.append(store.take_waiting(ids, SETTLEMENT_TYPES, take_waiting, now))
    command_rows, fact_rows, *taken_rows = run_together(conn, statements)
    found = store.terms_from(command_rows)
    taken = store.terms_from(taken_rows[0]) if taken_rows else {}
    if taken:
        fact_rows = [*fact_rows, *run_together(conn, [gate_store.facts_of_commands(
            list(taken), sanctions_source=SOURCE)])[0]]
    result = BatchResult(
        not_found=[i for i in ids if i not in found],
        wrong_type=[i for i in ids if i in found and found[i].type not in SETTLEMENT_TYPES],
        taken=list(taken))
    batch = [found[i] for i in ids if i in found and found[i].type in SETTLEMENT_TYPES]
    batch.extend(taken.values())
    keys = rules.needed_balances(batch, ledger.external_account)
    balances = store.lock_balances(
        conn, [(a, asset, *ledger.account_class(a)) for a, asset in keys]) if keys else {}
    gates = {f.party: gate_rules.decide(f, kyc_required=settings.kyc_required_for_settlement)
             for f in gate_store.facts_from(fact_rows)}
    decisions = rules.decide_batch(batch, balances, gates, now, ledger.external_account)
    _record(session, decisions, balances, now, settled_by)
    result.outcomes.extend(Outcome(d.terms.command_id, d.status.value, d.reason)
                           for d in decisions)
    return result


def process_command(session: Session, command_id: str, now: datetime,
                    settings: Settings, settled_by: str | None = None, *,
                    take_waiting: int = 0) -> Outcome:
    """Settle one command: a batch of one, and of up to `take_waiting` others waiting."""
    result = settle_batch(session, [command_id], now, settings, settled_by or command_id,
                          take_waiting=take_waiting)
    if result.not_found:
        raise NotFound(f"command {command_id} not found", code="command_not_found")
    if result.wrong_type:
        raise Conflict(f"command {command_id} is not a settlement command",
                       code="wrong_command_type")
    return result.outcomes[0]


def _record(session: Session, decisions: Sequence[Decision],
            balances: Mapping[rules.BalanceKey, BalanceState], now: datetime,
            settled_by: str) -> None:
    moved_keys = {k for d in decisions for k in rules.balance_keys(list(d.moved))}
    escrow_reasons = {d.terms.escrow_id: escrow_hold_reason(d.reason or "", d.detail or "")
                      for d in decisions if d.shown_on_escrow and d.terms.escrow_id}
    events = [(new_id(), d.event_type, d.terms.command_id, _event(d))
              for d in decisions if d.event_type is not None]
    store.record_outcomes(
        session.connection(), now=now, settled_by=settled_by, decisions=decisions,
        balances={k: balances[k] for k in sorted(moved_keys)}, escrow_reasons=escrow_reasons,
        topic=SETTLEMENT_RESULTS, events=events)


def _event(decision: Decision) -> dict[str, object]:
    terms = decision.terms
    return stamped(outcome_data(
        terms.command_id, type=terms.type.value, workflow_id=terms.workflow_id,
        escrow_id=terms.escrow_id, status=decision.status.value, reason=decision.reason))
