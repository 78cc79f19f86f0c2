"""A batch decided in one unit of work ends exactly as its commands decided one by one, each
in a unit of work of its own, in the same order (app.domain.settlement.decide_batch)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.commands import CommandStatus, CommandType
from app.domain.compliance.gate import GateDecision, PartyFacts, decide
from app.domain.ledger import ZERO, Balance, posted
from app.domain.settlement import (
    BalanceKey,
    Decision,
    SettlementTerms,
    Verdict,
    balance_keys,
    decide_batch,
    needed_balances,
)

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
CLEAR, BLOCKED, HELD = ("alice", "bob", "carol"), "mallory", "harry"
ASSETS = ("USD", "BTC")
GATES: dict[str, GateDecision] = {
    **{p: decide(PartyFacts(p), kyc_required=False) for p in CLEAR},
    BLOCKED: decide(PartyFacts(BLOCKED, kyc_case_id="k", kyc_status="rejected"),
                    kyc_required=False),
    HELD: decide(PartyFacts(HELD, aml_alert_ids=("a",)), kyc_required=False),
}
Store = dict[BalanceKey, Balance]


def bank(asset: str) -> str:
    return f"external:bank:{asset}"


def opening_store() -> Store:
    store: Store = {}
    for asset in ASSETS:
        store[(bank(asset), asset)] = Balance(bank(asset), asset, no_overdraft=False,
                                              debits_posted=Decimal(30))
        for name in CLEAR[:2]:  # carol and the others start with nothing
            store[(name, asset)] = Balance(name, asset, credits_posted=Decimal(15))
    return store


amounts = st.integers(1, 12).map(Decimal)
parties = st.sampled_from((*CLEAR, BLOCKED, HELD))


@st.composite
def command(draw: st.DrawFn, n: int) -> SettlementTerms:
    kind = draw(st.sampled_from((CommandType.DVP, CommandType.COLLATERAL_TRANSFER,
                                 CommandType.DEPOSIT)))
    payer = None if kind is CommandType.DEPOSIT else draw(parties)
    payee = draw(parties.filter(lambda p: p != payer))
    dvp = kind is CommandType.DVP
    asset = draw(st.sampled_from(ASSETS))
    return SettlementTerms(
        command_id=f"c-{n}", type=kind,
        status=draw(st.sampled_from(["received"] * 8 + ["settled", "failed"])),
        reason=None, payer=payer, payee=payee, asset=asset,
        amount=draw(st.one_of(amounts, st.just(None))) if draw(st.booleans()) else
        draw(amounts),
        counter_asset=draw(st.sampled_from(ASSETS)) if dvp else None,
        counter_amount=draw(amounts) if dvp and draw(st.integers(0, 9)) else None,
        deadline=NOW + timedelta(seconds=draw(st.sampled_from([-1, 60]))),
        workflow_id="wf", escrow_id=None)


@st.composite
def batches(draw: st.DrawFn) -> list[SettlementTerms]:
    size = draw(st.integers(1, 14))
    return [draw(command(n)) for n in range(size)]


def class_of(account: str) -> bool:
    return not account.startswith("external:")  # no_overdraft, as services/ledger.py says


def unit_of_work(store: Store, commands: Sequence[SettlementTerms]) -> list[Decision]:
    """Load (copies of) the balances the commands need, decide, write back what moved."""
    loaded = {k: copy.copy(store.get(k) or Balance(*k, no_overdraft=class_of(k[0])))
              for k in needed_balances(commands, bank)}
    decisions = decide_batch(commands, loaded, GATES, NOW, bank)
    for d in decisions:
        for k in balance_keys(list(d.moved)):
            store[k] = loaded[k]
    return decisions


def state(store: Store) -> dict[BalanceKey, tuple[Decimal, ...]]:
    return {k: (b.debits_posted, b.credits_posted, b.debits_pending, b.credits_pending)
            for k, b in store.items()}


@settings(max_examples=300, deadline=None)
@given(batches())
def test_one_batch_ends_as_the_same_commands_one_by_one(commands: list[SettlementTerms]) -> None:
    together, alone = opening_store(), opening_store()
    batch = unit_of_work(together, commands)
    one_by_one = [d for c in commands for d in unit_of_work(alone, [c])]
    assert batch == one_by_one  # outcome, reason, detail, transfers and event of each
    assert state(together) == state(alone)
    for asset in ASSETS:
        assert sum((posted(b) for (_, a), b in together.items() if a == asset), ZERO) == ZERO
    assert all(posted(b) >= 0 for b in together.values() if b.no_overdraft)
    for d in batch:
        settled = d.verdict is Verdict.SETTLED
        assert bool(d.moved) == settled
        assert d.event_type == {Verdict.SETTLED: "command.settled",
                                Verdict.FAILED: "command.failed"}.get(d.verdict)
        if d.verdict is Verdict.HELD:
            assert (d.status, d.reason) == (CommandStatus.RECEIVED, "compliance_review")


def test_a_refused_delivery_leg_leaves_the_running_balances_to_the_next_command() -> None:
    store = opening_store()
    dvp = SettlementTerms("c-1", CommandType.DVP, "received", None, "alice", "bob", "USD",
                          Decimal(10), "BTC", Decimal(16), None, None, None)
    after = SettlementTerms("c-2", CommandType.COLLATERAL_TRANSFER, "received", None, "alice",
                            "carol", "USD", Decimal(15), None, None, None, None, None)
    first, second = unit_of_work(store, [dvp, after])
    assert (first.verdict, first.reason) == (Verdict.FAILED, "insufficient_funds")
    assert second.verdict is Verdict.SETTLED  # alice's 15 USD were all still there
    assert posted(store[("alice", "USD")]) == ZERO
    assert posted(store[("carol", "USD")]) == Decimal(15)
