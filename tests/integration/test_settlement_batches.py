"""Settlement batches on the real database: a batch of mixed outcomes, duplicates, two
overlapping batches at once, a batch task delivered twice, and a batch ending as the same
commands settled one by one."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from app.config import get_settings
from app.domain.compliance.alerts import AlertKind
from app.persistence.db import unit_of_work
from app.persistence.models import Command, LedgerTransfer, OutboxEvent
from app.services import intake, settlement
from app.services.compliance import alerts
from tests.integration.conftest import count, fund, in_an_hour, party, posted
from tests.integration.test_settlement_gate import reject_kyc
from tests.support import Worker

pytestmark = pytest.mark.integration


def submit(payer: str, payee: str, amount: str, *, asset: str = "USD",
           counter: tuple[str, str] | None = None, deadline: datetime | None = None,
           command_id: str | None = None) -> str:
    with unit_of_work() as session:
        return intake.submit_settlement_command(
            session, get_settings().asset_decimals, command_id=command_id or str(uuid.uuid4()),
            type="DVP" if counter else "COLLATERAL_TRANSFER", workflow_id="wf-batch",
            account_ref="ref", payer=payer, payee=payee, asset=asset, amount=amount,
            counter_asset=counter[1] if counter else None,
            counter_amount=counter[0] if counter else None,
            deadline=deadline or in_an_hour()).command_id


def deposit(account: str, amount: str, asset: str = "USD") -> str:
    with unit_of_work() as session:
        return intake.request_deposit(session, get_settings().asset_decimals,
                                      account_id=account, asset=asset,
                                      amount=amount).command_id


def settle_batch(ids: list[str], settled_by: str = "batch-test") -> settlement.BatchResult:
    with unit_of_work() as session:
        return settlement.settle_batch(session, ids, datetime.now(UTC), get_settings(),
                                       settled_by)


def hold_for_review(who: str) -> None:
    with unit_of_work() as session:
        alerts.open_alert(session, dedup_key=f"test:{who}", kind=AlertKind.AML_CHECK, party=who,
                          level="high", details={})


def commands(ids: list[str]) -> dict[str, Command]:
    with unit_of_work() as session:
        return {c.command_id: c for c in session.scalars(
            select(Command).where(Command.command_id.in_(ids)))}


def outcome_events(ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
    with unit_of_work() as session:
        for event in session.scalars(select(OutboxEvent).where(
                OutboxEvent.aggregate_id.in_(ids),
                OutboxEvent.event_type != "command.accepted")):
            found[event.aggregate_id].append({"event_type": event.event_type, **event.payload})
    return found


def transfers_of(ids: list[str]) -> int:
    return count(LedgerTransfer, LedgerTransfer.transfer_id.in_(
        [f"{i}:{leg}" for i in ids for leg in ("payment", "delivery")]))


def test_a_batch_of_mixed_outcomes_decides_each_command_alone(service_env: Any) -> None:
    alice, bob, carol = party("alice"), party("bob"), party("carol")
    blocked, held = party("blocked"), party("held")
    fund(alice, "100.00")
    fund(bob, "3", "BTC")
    reject_kyc(blocked)
    hold_for_review(held)
    done = submit(alice, carol, "1.00")
    assert settle_batch([done], "earlier").outcomes[0].status == "settled"
    ids = [
        submit(alice, bob, "40.00", counter=("2", "BTC")),          # 0 DVP: settles
        submit(alice, bob, "10.00", counter=("2", "BTC")),          # 1 bob has 1 BTC left
        submit(alice, blocked, "5.00"),                             # 2 compliance_blocked
        submit(alice, held, "5.00"),                                # 3 held for review
        submit(alice, carol, "5.00",
               deadline=datetime.now(UTC) - timedelta(seconds=1)),  # 4 past its deadline
        done,                                                       # 5 already settled
        deposit(carol, "7.00"),                                     # 6 a deposit
        submit(carol, bob, "8.00"),                                 # 7 sees 6: 1 + 7
        submit(alice, carol, "60.00"),                              # 8 alice has 59 left
    ]
    result = settle_batch(ids, "batch-mixed")
    assert [(o.status, o.reason) for o in result.outcomes] == [
        ("settled", None), ("failed", "insufficient_funds"), ("failed", "compliance_blocked"),
        ("received", "compliance_review"), ("failed", "deadline_exceeded"), ("settled", None),
        ("settled", None), ("settled", None), ("failed", "insufficient_funds")]
    stored = commands(ids)
    assert [stored[i].settled_by for i in ids] == [
        "batch-mixed", "batch-mixed", "batch-mixed", None, "batch-mixed", "earlier",
        "batch-mixed", "batch-mixed", "batch-mixed"]
    assert "aml_high_risk_alert" in (stored[ids[3]].reason_detail or "")
    assert stored[ids[0]].settled_at is not None and stored[ids[1]].failed_at is not None
    assert (posted(alice), posted(alice, "BTC")) == (Decimal("59.00"), Decimal("2"))
    assert (posted(bob), posted(bob, "BTC")) == (Decimal("48.00"), Decimal("1"))
    assert (posted(carol), posted(held), posted(blocked)) == (0, 0, 0)
    events = outcome_events(ids)
    assert [len(events[i]) for i in ids] == [1, 1, 1, 0, 1, 1, 1, 1, 1]
    assert events[ids[1]][0] == {**events[ids[1]][0], "event_type": "command.failed",
                                 "status": "failed", "reason": "insufficient_funds",
                                 "type": "DVP", "workflow_id": "wf-batch"}
    assert transfers_of(ids) == 2 + 1 + 1 + 1  # the DVP's legs, done, the deposit, carol's


def test_duplicates_inside_a_batch_and_across_batches_settle_once(service_env: Any) -> None:
    payer, payee = party("dup-payer"), party("dup-payee")
    fund(payer, "10.00")
    one, two = submit(payer, payee, "4.00"), submit(payer, payee, "4.00")
    first = settle_batch([one, two, one, one], "batch-a")
    assert [(o.command_id, o.status) for o in first.outcomes] == [(one, "settled"),
                                                                  (two, "settled")]
    again = settle_batch([two, one], "batch-b")
    assert [(o.command_id, o.status) for o in again.outcomes] == [(two, "settled"),
                                                                  (one, "settled")]
    assert {c.settled_by for c in commands([one, two]).values()} == {"batch-a"}
    assert posted(payee) == Decimal("8.00")
    assert transfers_of([one, two]) == 2
    assert [len(e) for e in outcome_events([one, two]).values()] == [1, 1]
    unknown = str(uuid.uuid4())
    assert settle_batch([unknown, one]).not_found == [unknown]


def test_overlapping_batches_at_once_neither_deadlock_nor_double(service_env: Any) -> None:
    accounts = [party(f"ring{i}") for i in range(6)]
    for account in accounts:
        fund(account, "100.00")
    rounds, errors = 6, []
    for _ in range(rounds):
        # Each batch moves money both ways round the ring; they share half their commands.
        forward = [submit(accounts[i], accounts[(i + 1) % 6], "1.00") for i in range(6)]
        back = [submit(accounts[(i + 1) % 6], accounts[i], "2.00") for i in range(6)]
        batches = [forward + back[:3], back + forward[3:]]
        threads = [threading.Thread(target=lambda b=b: _settle_noting(b, errors))
                   for b in batches]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not any(t.is_alive() for t in threads), "a batch is stuck"
        assert errors == []
        assert {c.status for c in commands(forward + back).values()} == {"settled"}
        assert transfers_of(forward + back) == 12
        assert all(len(e) == 1 for e in outcome_events(forward + back).values())
    with unit_of_work() as session:
        total = session.execute(text(
            "SELECT sum(credits_posted - debits_posted) FROM ledger_balances "
            "WHERE account_id = ANY(:a) AND asset = 'USD'"), {"a": accounts}).scalar_one()
    assert total == Decimal("600.00")
    # each account pays 1 forward and 2 back, and is paid the same from its neighbours
    assert [posted(a) for a in accounts] == [Decimal("100.00")] * 6


def _settle_noting(ids: list[str], errors: list[BaseException]) -> None:
    try:
        settle_batch(ids)
    except BaseException as error:  # handed to the test's thread
        errors.append(error)


def test_a_batch_task_delivered_twice_has_one_effect(worker: Worker) -> None:
    from tasks.celery_app import celery_app  # noqa: PLC0415

    payer, payee = party("twice-payer"), party("twice-payee")
    fund(payer, "10.00")
    ids = [submit(payer, payee, "3.00") for _ in range(3)]
    # Two deliveries of the same batch, as a broker redelivery would make.
    sent = [celery_app.send_task("settlement.settle_batch",
                                 kwargs={"command_ids": ids, "batch_id": "batch-twice"})
            for _ in range(2)]
    results = [s.get(timeout=30) for s in sent]
    assert all(r["batch_id"] == "batch-twice" for r in results)
    assert sorted(r["counts"]["settled"] for r in results) == [3, 3]
    assert posted(payee) == Decimal("9.00")
    assert transfers_of(ids) == 3
    assert [len(e) for e in outcome_events(ids).values()] == [1, 1, 1]
    assert {c.settled_by for c in commands(ids).values()} == {"batch-twice"}


# One example builds two worlds of the same accounts and commands: one settles them as a
# batch, the other one by one in the same order.
ROLES = ("alice", "bob", "carol", "harry")
LATE = datetime(2026, 1, 1, tzinfo=UTC)
spec = st.tuples(st.sampled_from(["DVP", "COLLATERAL_TRANSFER", "DEPOSIT"]),
                 st.sampled_from(ROLES), st.sampled_from(ROLES),
                 st.integers(1, 9), st.sampled_from(["USD", "BTC"]), st.booleans())


def world(specs: list[tuple[str, str, str, int, str, bool]]) -> tuple[dict[str, str], list[str]]:
    names = {role: party(role) for role in ROLES}
    fund(names["alice"], "10.00")
    fund(names["bob"], "4", "BTC")
    hold_for_review(names["harry"])
    ids = []
    for kind, payer, drawn_payee, amount, asset, late in specs:
        if kind == "DEPOSIT":
            ids.append(deposit(names[drawn_payee], str(amount), asset))
            continue
        payee = (drawn_payee if drawn_payee != payer
                 else ROLES[(ROLES.index(payer) + 1) % len(ROLES)])
        ids.append(submit(
            names[payer], names[payee], str(amount), asset=asset,
            counter=("2", "BTC" if asset == "USD" else "USD") if kind == "DVP" else None,
            deadline=LATE if late else None))
    return names, ids


def observed(names: dict[str, str], ids: list[str], outcomes: list[Any]) -> dict[str, Any]:
    role_of = {v: k for k, v in names.items()}
    position = {command_id: f"#{n}" for n, command_id in enumerate(ids)}

    def plain(value: Any) -> Any:
        for real, alias in (*position.items(), *role_of.items()):
            value = value.replace(real, alias) if isinstance(value, str) else value
        return value

    stored = commands(ids)
    events = outcome_events(ids)
    with unit_of_work() as session:
        transfers = sorted(
            (plain(t.transfer_id), plain(t.debit_account), plain(t.credit_account), t.asset,
             t.amount, t.status)
            for t in session.scalars(select(LedgerTransfer).where(
                LedgerTransfer.transfer_id.in_(
                    [f"{i}:{leg}" for i in ids for leg in ("payment", "delivery")]))))
    return {
        "outcomes": [(plain(o.command_id), o.status, o.reason) for o in outcomes],
        "commands": [(c.status, c.reason, plain(c.reason_detail))
                     for c in (stored[i] for i in ids)],
        "balances": {(r, a): posted(n, a) for r, n in names.items() for a in ("USD", "BTC")},
        "transfers": transfers,
        "events": [[{k: plain(v) for k, v in e.items() if k != "occurred_at"}
                    for e in events[i]] for i in ids],
    }


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.lists(spec, min_size=1, max_size=8))
def test_a_batch_ends_as_its_commands_settled_one_by_one(
        service_env: Any, specs: list[tuple[str, str, str, int, str, bool]]) -> None:
    names, ids = world(specs)
    together = observed(names, ids, settle_batch(ids).outcomes)
    names, ids = world(specs)
    alone = observed(names, ids, [_settle_alone(i) for i in ids])
    assert together == alone


def _settle_alone(command_id: str) -> Any:
    with unit_of_work() as session:
        return settlement.process_command(session, command_id, datetime.now(UTC),
                                          get_settings())

