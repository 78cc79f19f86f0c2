"""Properties of the in-memory double-entry ledger (DOMAIN.md §2, the TigerBeetle model)."""

from __future__ import annotations

from decimal import Decimal
from itertools import product

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

from app.domain.errors import Conflict, GuardFailed, InsufficientFunds, InvalidInput
from app.domain.ledger import ZERO, Ledger, TransferStatus, available, posted

ASSETS = ("USD", "EUR")
CUSTOMERS = ("alice", "bob", "carol")


def external(asset: str) -> str:
    return f"external:bank:{asset}"


def new_ledger() -> Ledger:
    ledger = Ledger()
    for asset in ASSETS:
        ledger.account(external(asset), asset, no_overdraft=False)
        for name in CUSTOMERS:
            ledger.account(name, asset)
    return ledger


def snapshot(ledger: Ledger) -> tuple[dict, dict]:
    return ({k: (b.debits_posted, b.credits_posted, b.debits_pending, b.credits_pending)
             for k, b in ledger.balances.items()},
            {k: (t.debit_account, t.credit_account, t.asset, t.amount, t.status)
             for k, t in ledger.transfers.items()})


def check_invariants(ledger: Ledger) -> None:
    for asset in ASSETS:
        assert ledger.asset_sum(asset) == ZERO
        rows = [b for (_, a), b in ledger.balances.items() if a == asset]
        assert sum((b.debits_pending for b in rows), ZERO) == sum(
            (b.credits_pending for b in rows), ZERO)
    for balance in ledger.balances.values():
        assert balance.debits_pending >= 0
        assert balance.credits_pending >= 0
        if balance.no_overdraft:
            assert available(balance) >= 0
            assert posted(balance) >= 0
    # Balances are exactly what the journal of transfers says.
    expected: dict[tuple[str, str], list[Decimal]] = {
        key: [ZERO, ZERO, ZERO, ZERO] for key in ledger.balances}
    for t in ledger.transfers.values():
        offset = {TransferStatus.POSTED: 0, TransferStatus.PENDING: 2}.get(t.status)
        if offset is None:  # voided: no effect left
            continue
        expected[(t.debit_account, t.asset)][offset] += t.amount
        expected[(t.credit_account, t.asset)][offset + 1] += t.amount
    for key, b in ledger.balances.items():
        got = [b.debits_posted, b.credits_posted, b.debits_pending, b.credits_pending]
        assert got == expected[key], key


amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("5000"), places=2,
                      allow_nan=False, allow_infinity=False)
# Moves are smaller than deposits, so that most succeed and some are refused.
moves = st.one_of(*(st.decimals(min_value=Decimal("0.01"), max_value=Decimal(top), places=2,
                                allow_nan=False, allow_infinity=False) for top in ("50", "800")))
assets = st.sampled_from(ASSETS)
customers = st.sampled_from(CUSTOMERS)
pairs = st.tuples(customers, customers).filter(lambda p: p[0] != p[1])

# Deposits are listed twice so that customers have money for the other operations to move.
deposits = st.tuples(st.just("deposit"), assets, customers, amounts)
# Every customer starts with some money in every asset, so that moves are mostly possible.
FUNDED = list(product(ASSETS, CUSTOMERS))
opening = st.lists(amounts, min_size=len(FUNDED), max_size=len(FUNDED))
operations = st.one_of(
    deposits,
    deposits,
    # (kind, asset, (from, to), amount, cap the amount at what is available)
    st.tuples(st.just("transfer"), assets, pairs, moves, st.booleans()),
    st.tuples(st.just("hold"), assets, pairs, moves, st.booleans()),
    # (kind, index, pick among every transfer rather than among the pending ones)
    st.tuples(st.just("post"), st.integers(min_value=0), st.booleans()),
    st.tuples(st.just("void"), st.integers(min_value=0), st.booleans()),
    st.tuples(st.just("replay"), st.integers(min_value=0), st.booleans()),
)


def open_checked(ledger: Ledger, tid: str, debit: str, credit: str, asset: str,
                 amount: Decimal, *, pending: bool, flags: dict[str, bool]) -> None:
    """Open a transfer; it is refused exactly when a no_overdraft debit lacks available funds."""
    source = ledger.balances[(debit, asset)]
    short = source.no_overdraft and available(source) < amount
    before = snapshot(ledger)
    try:
        ledger.transfer(tid, debit, credit, asset, amount, pending=pending)
    except InsufficientFunds as exc:
        assert short, "refused although the funds were available"
        assert exc.code == "insufficient_funds"
        assert snapshot(ledger) == before
        return
    assert not short, "accepted although the funds were not available"
    flags[tid] = pending
    status = TransferStatus.PENDING if pending else TransferStatus.POSTED
    assert ledger.transfers[tid].status is status


def resolve_checked(ledger: Ledger, tid: str, target: TransferStatus) -> None:
    t = ledger.transfers[tid]
    start = t.status
    before = snapshot(ledger)
    try:
        ledger.resolve(tid, target)
    except GuardFailed as exc:
        assert start not in (TransferStatus.PENDING, target)
        assert exc.code == "transfer_already_resolved"
        assert snapshot(ledger) == before
        return
    assert t.status is target
    if start is target:
        assert snapshot(ledger) == before
    # A second identical resolution is a no-op.
    again = snapshot(ledger)
    ledger.resolve(tid, target)
    assert snapshot(ledger) == again


def replay_checked(ledger: Ledger, tid: str, change_terms: bool, pending: bool) -> None:
    t = ledger.transfers[tid]
    before = snapshot(ledger)
    if change_terms:
        with pytest.raises(Conflict) as info:
            ledger.transfer(tid, t.debit_account, t.credit_account, t.asset,
                            t.amount + Decimal("0.01"))
        assert info.value.code == "conflict"
    else:
        same = ledger.transfer(tid, t.debit_account, t.credit_account, t.asset,
                               t.amount, pending=pending)
        assert same is t
    assert snapshot(ledger) == before


def capped(ledger: Ledger, source: str, asset: str, amount: Decimal, cap: bool) -> Decimal:
    """Mostly moves that fit, and exactly all of the available funds now and then."""
    funds = available(ledger.balances[(source, asset)])
    return min(amount, funds) if cap and funds > 0 else amount


def apply(ledger: Ledger, op: tuple, serial: int, flags: dict[str, bool]) -> None:
    kind, ids = op[0], sorted(ledger.transfers)
    tid = f"t{serial}"
    if kind == "deposit":
        _, asset, who, amount = op
        open_checked(ledger, tid, external(asset), who, asset, amount, pending=False,
                     flags=flags)
    elif kind in ("transfer", "hold"):
        _, asset, (src, dst), amount, cap = op
        amount = capped(ledger, src, asset, amount, cap)
        open_checked(ledger, tid, src, dst, asset, amount, pending=kind == "hold", flags=flags)
    elif kind in ("post", "void"):
        pending = [i for i in ids if ledger.transfers[i].status is TransferStatus.PENDING]
        pool = ids if op[2] or not pending else pending
        if pool:
            target = TransferStatus.POSTED if kind == "post" else TransferStatus.VOIDED
            resolve_checked(ledger, pool[op[1] % len(pool)], target)
    elif kind == "replay" and ids:
        tid = ids[op[1] % len(ids)]
        replay_checked(ledger, tid, op[2], flags[tid])


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(opening, st.lists(operations, min_size=10, max_size=60))
def test_random_operation_sequences_keep_the_invariants(first: list[Decimal],
                                                        ops: list[tuple]) -> None:
    ledger, flags = new_ledger(), {}
    start = [("deposit", a, c, amount) for (a, c), amount in zip(FUNDED, first, strict=True)]
    for serial, op in enumerate(start + ops):
        apply(ledger, op, serial, flags)
        check_invariants(ledger)


def test_voided_transfer_cannot_be_posted_and_posted_cannot_be_voided() -> None:
    ledger = new_ledger()
    ledger.transfer("d", external("USD"), "alice", "USD", Decimal("10.00"))
    ledger.transfer("h1", "alice", "bob", "USD", Decimal("4.00"), pending=True)
    ledger.transfer("h2", "alice", "bob", "USD", Decimal("6.00"), pending=True)
    assert available(ledger.balances[("alice", "USD")]) == ZERO
    with pytest.raises(InsufficientFunds):
        ledger.transfer("h3", "alice", "bob", "USD", Decimal("0.01"), pending=True)
    ledger.resolve("h1", TransferStatus.VOIDED)
    with pytest.raises(GuardFailed) as info:
        ledger.resolve("h1", TransferStatus.POSTED)
    assert info.value.code == "transfer_already_resolved"
    ledger.resolve("h2", TransferStatus.POSTED)
    with pytest.raises(GuardFailed):
        ledger.resolve("h2", TransferStatus.VOIDED)
    assert posted(ledger.balances[("alice", "USD")]) == Decimal("4.00")
    assert posted(ledger.balances[("bob", "USD")]) == Decimal("6.00")
    check_invariants(ledger)


@pytest.mark.parametrize(("debit", "credit", "amount", "code"), [
    ("alice", "alice", Decimal("1"), "same_account"),
    ("external:bank:USD", "alice", Decimal("0"), "amount_not_positive"),
    ("external:bank:USD", "alice", Decimal("-1"), "amount_not_positive"),
])
def test_malformed_transfers_are_refused(debit: str, credit: str, amount: Decimal,
                                         code: str) -> None:
    ledger = new_ledger()
    with pytest.raises(InvalidInput) as info:
        ledger.transfer("x", debit, credit, "USD", amount)
    assert info.value.code == code
    assert "x" not in ledger.transfers



def test_replay_with_other_pending_flag_is_a_conflict() -> None:
    # TigerBeetle answers `exists_with_different_flags`; the ledger returns the posted transfer
    # as if the held (pending) one had been created.
    ledger = new_ledger()
    ledger.transfer("d", external("USD"), "alice", "USD", Decimal("10.00"))
    with pytest.raises(Conflict):
        ledger.transfer("d", external("USD"), "alice", "USD", Decimal("10.00"), pending=True)



def test_full_precision_amounts_are_not_rounded() -> None:
    # parse_amount accepts 20 integer digits and 18 decimals (NUMERIC(38, 18)); the default
    # decimal context keeps 28 significant digits, so `+=` on a balance rounds such an amount.
    ledger = Ledger()
    ledger.account("external:chain:1:ETH", "ETH", no_overdraft=False)
    ledger.account("alice", "ETH")
    amount = Decimal("12345678901234567890.123456789012345678")
    ledger.transfer("big", "external:chain:1:ETH", "alice", "ETH", amount)
    assert posted(ledger.balances[("alice", "ETH")]) == amount


class LedgerMachine(RuleBasedStateMachine):
    """The same rules driven step by step, transfer ids flowing through a bundle."""

    transfer_ids = Bundle("transfer_ids")

    def __init__(self) -> None:
        super().__init__()
        self.ledger = new_ledger()
        self.serial = 0
        self.flags: dict[str, bool] = {}

    def _next_id(self) -> str:
        self.serial += 1
        return f"m{self.serial}"

    @initialize(first=opening)
    def open_accounts(self, first: list[Decimal]) -> None:
        for (asset, who), amount in zip(FUNDED, first, strict=True):
            self.ledger.transfer(self._next_id(), external(asset), who, asset, amount)
            self.flags[f"m{self.serial}"] = False

    @rule(target=transfer_ids, asset=assets, who=customers, amount=amounts)
    def deposit(self, asset: str, who: str, amount: Decimal) -> str:
        tid = self._next_id()
        open_checked(self.ledger, tid, external(asset), who, asset, amount, pending=False,
                     flags=self.flags)
        return tid

    @rule(target=transfer_ids, asset=assets, pair=pairs, amount=moves, pending=st.booleans(),
          cap=st.booleans())
    def move(self, asset: str, pair: tuple[str, str], amount: Decimal, pending: bool,
             cap: bool) -> str:
        tid = self._next_id()
        amount = capped(self.ledger, pair[0], asset, amount, cap)
        open_checked(self.ledger, tid, pair[0], pair[1], asset, amount, pending=pending,
                     flags=self.flags)
        return tid

    @rule(tid=transfer_ids, post=st.booleans())
    def resolve(self, tid: str, post: bool) -> None:
        if tid in self.ledger.transfers:
            target = TransferStatus.POSTED if post else TransferStatus.VOIDED
            resolve_checked(self.ledger, tid, target)

    @rule(tid=transfer_ids, change_terms=st.booleans())
    def replay(self, tid: str, change_terms: bool) -> None:
        if tid in self.ledger.transfers:
            replay_checked(self.ledger, tid, change_terms, self.flags[tid])

    @invariant()
    def balanced(self) -> None:
        check_invariants(self.ledger)


LedgerMachine.TestCase.settings = settings(max_examples=100, stateful_step_count=30,
                                           deadline=None)
TestLedgerMachine = LedgerMachine.TestCase
