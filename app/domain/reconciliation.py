"""The ledger's invariants (DOMAIN.md §2) as named checks, and how a run's outcome reads.

Each check is one set-based query in app/services/reconciliation.py; this module says what
each one asserts, the kinds of break it reports, and how a run's status follows its checks.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    asserts: str
    break_kinds: tuple[str, ...]


CHECKS: tuple[Check, ...] = (
    Check("asset_sums",
          "per asset, posted balances sum to zero and pending debits equal pending credits",
          ("asset_posted_sum_nonzero", "asset_pending_unbalanced")),
    Check("no_overdraft",
          "no account but an external one goes below zero or lacks the no_overdraft flag, "
          "and every account's kind matches its id",
          ("overdraft", "overdraft_flag_missing", "account_kind_mismatch")),
    Check("balances_match_transfers",
          "each balance's four counters equal the sums of its posted and pending transfers",
          ("balance_mismatch",)),
    Check("escrow_transfers",
          "each escrow's funding transfer has its amount, asset and accounts and the state its "
          "status implies; a released escrow's release transfer pays the payee in full",
          ("escrow_funding_mismatch", "escrow_funding_state", "escrow_release_missing",
           "escrow_release_mismatch", "escrow_release_unexpected")),
    Check("orphan_pending",
          "no transfer stays pending once its escrow is released or refunded, or without one",
          ("pending_past_escrow", "pending_without_escrow")),
)
CHECK_NAMES: tuple[str, ...] = tuple(c.name for c in CHECKS)
BY_NAME = {c.name: c for c in CHECKS}

# Breaks recorded per check and run; the count is always exact. A ledger broken everywhere
# (a bad migration) must not turn one check into a million-row insert.
MAX_RECORDED_BREAKS = 1000


def run_status(*, finished: int, total: int, with_breaks: int, failed: int,
               cancelled: bool) -> str:
    """The run's status once `finished` of `total` checks have ended."""
    if cancelled:
        return "cancelled"
    if finished < total:
        return "running"
    if failed:
        return "completed_with_failures"  # some invariant could not be verified at all
    return "completed_with_breaks" if with_breaks else "completed"


def alert_summary(check: str, breaks: int, kinds: dict[str, int], error: str | None) -> str:
    """One line for the operator: which invariant, how many breaks of which kind."""
    if error is not None:
        return f"ledger reconciliation check {check} could not run: {error}"
    by_kind = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    return f"ledger reconciliation: {breaks} break(s) of {check} ({by_kind})"
