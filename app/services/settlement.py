"""Settlement commands: deposits, collateral transfers and DVP (both legs or neither).

process_command applies the rules to any settlement command, in two round trips between BEGIN
and COMMIT
(app/persistence/settlement_store.py): one locks the command, fetches the compliance gate's
facts about the parties it names and locks their balances; the other writes the outcome.
The rules (here and in app/domain/settlement.py) decide what is needed from the command as
locked; whatever that first round trip did not fetch (a deposit's bank account, an account's
first use) is fetched afterwards. The rules decide on the locked balances before anything is
written, so a refusal writes only its own record, through the same code as every other
command (services/commands.py).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from app.config import Settings
from app.domain import settlement as rules
from app.domain.commands import CommandStatus, advance
from app.domain.errors import Conflict, DomainError, GuardFailed, NotFound
from app.domain.ledger import Balance
from app.domain.settlement import SETTLEMENT_TYPES, Leg
from app.persistence import settlement_store as store
from app.persistence.db import run_together
from app.persistence.models import Command, new_id
from app.services import ledger
from app.services.commands import Outcome, outcome_data, record_refusal
from app.services.compliance.gate import require_clear
from app.services.outbox import SETTLEMENT_RESULTS, stamped

__all__ = ["SETTLEMENT_TYPES", "process_command"]

_WALK = (CommandStatus.VALIDATED, CommandStatus.SETTLING, CommandStatus.SETTLED)


def process_command(session: Session, command_id: str, now: datetime,
                    settings: Settings) -> Outcome:
    """Settle a command exactly once: its row lock serialises duplicate deliveries, and a
    command already terminal returns its first outcome."""
    conn = session.connection()
    command_rows, named = run_together(conn, [
        store.lock_command(command_id), store.lock_named_balances(command_id)])
    terms = store.terms_from(command_rows)
    if terms is None:
        raise NotFound(f"command {command_id} not found", code="command_not_found")
    if terms.type not in SETTLEMENT_TYPES:
        raise Conflict(f"command {command_id} is a {terms.type}", code="wrong_command_type")
    if CommandStatus(terms.status).terminal:
        return Outcome(command_id, terms.status, terms.reason)
    try:
        if terms.deadline is not None and now > terms.deadline:
            raise GuardFailed(f"deadline {terms.deadline.isoformat()} passed before settlement",
                              code="deadline_exceeded")
        moved = rules.legs(terms, ledger.external_account)
        parties = rules.parties_to_screen(terms, moved)
        if parties:
            require_clear(session, parties, settings)
        balances = _lock_balances(session, moved, store.balances_from(named))
        rules.apply_legs(balances, moved)
    except DomainError as cause:
        command = session.get(Command, command_id)
        assert command is not None  # locked above, in this transaction
        return record_refusal(session, command, now, cause)
    status = CommandStatus.RECEIVED
    for step in _WALK:
        status = advance(status, step)
    store.record_settled(
        conn, command_id=command_id, status=status.value, now=now, balances=balances,
        moved=moved, event_id=new_id(), topic=SETTLEMENT_RESULTS, event_type="command.settled",
        payload=stamped(outcome_data(command_id, type=terms.type.value,
                                     workflow_id=terms.workflow_id, escrow_id=terms.escrow_id,
                                     status=status.value, reason=None)))
    return Outcome(command_id, status.value)


def _lock_balances(session: Session, moved: list[Leg],
                   locked: dict[rules.BalanceKey, Balance]) -> dict[rules.BalanceKey, Balance]:
    """The balances the legs move, locked: those already locked with the command, else all of
    them in the usual order (creating the ones seen for the first time)."""
    keys = rules.balance_keys(moved)
    if all(k in locked for k in keys):
        return {k: locked[k] for k in keys}
    conn = session.connection()
    locked = store.lock_balances(conn, keys)
    missing = [k for k in keys if k not in locked]
    if missing:
        store.create_balances(conn, [(a, asset, *ledger.account_class(a)) for a, asset in missing])
        locked = store.lock_balances(conn, keys)
    return locked
