"""Compliance alerts: `open → investigating → resolved | false_positive` (DOMAIN.md §4)."""

from __future__ import annotations

from enum import StrEnum

from app.domain.errors import GuardFailed, InvalidInput


class AlertStatus(StrEnum):
    OPEN = "open"
    INVESTIGATING = "investigating"
    RESOLVED = "resolved"
    FALSE_POSITIVE = "false_positive"

    @property
    def active(self) -> bool:
        return self in (AlertStatus.OPEN, AlertStatus.INVESTIGATING)


class AlertKind(StrEnum):
    AML_CHECK = "aml_check"  # a transaction check scored medium or high
    CHAIN_FACT = "chain_fact"  # the chain reported a settlement with a party the gate holds
    LEDGER_BREAK = "ledger_break"  # the nightly reconciliation found a broken ledger invariant


_MOVES: dict[AlertStatus, frozenset[AlertStatus]] = {
    AlertStatus.OPEN: frozenset({AlertStatus.INVESTIGATING}),
    AlertStatus.INVESTIGATING: frozenset({AlertStatus.RESOLVED, AlertStatus.FALSE_POSITIVE}),
    AlertStatus.RESOLVED: frozenset(),
    AlertStatus.FALSE_POSITIVE: frozenset(),
}


def transition(current: AlertStatus, target: AlertStatus, reason: str | None) -> AlertStatus:
    if target not in _MOVES[current]:
        allowed = ", ".join(sorted(_MOVES[current])) or "none (closed)"
        raise GuardFailed(f"an alert cannot move from {current} to {target}; allowed: {allowed}",
                          code="illegal_alert_transition")
    # Closing an alert is an audit fact: it must say why.
    if not target.active and not (reason and reason.strip()):
        raise InvalidInput(f"closing an alert as {target} needs a reason",
                           code="reason_required", field="reason")
    return target
