"""The inbound inbox: a message the bridge acked whose task the broker then lost is sent again
from PostgreSQL by the sweeper, and applied exactly once."""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from sqlalchemy import event, select

from app.messaging.routing import Routed, route
from app.persistence.db import get_engine, session_factory, unit_of_work
from app.persistence.inbox_store import InboxEntry
from bridges.inbound import inbox_recorder
from tasks.celery_app import send_routed_batch
from tasks.maintenance import resend_inbox
from tests.chain_effects import escrow_effects
from tests.messages import address, deployed, encode
from tests.support import Worker, drain, wait_for

AFTER = timedelta(seconds=60)


def inbox_row(routed: Routed) -> InboxEntry | None:
    with unit_of_work() as session:
        return session.scalars(select(InboxEntry).where(
            InboxEntry.subscription == routed.subscription,
            InboxEntry.dedup_key == routed.dedup_key)).one_or_none()


def status(routed: Routed) -> tuple[str, int] | None:
    row = inbox_row(routed)
    return None if row is None else (row.status, row.resends)


def resent_count() -> int:
    from app.services.ops_metrics import TASK_COUNTS_KEY, task_field  # noqa: PLC0415
    from tasks.maintenance import INBOX_RESENT  # noqa: PLC0415

    client = redis.Redis.from_url(os.environ["CELERY_BROKER_URL"])
    value = client.hget(TASK_COUNTS_KEY, task_field("settlement.apply_chain_event", INBOX_RESENT))
    return int(value or 0)


def lost_in_the_broker(group: Sequence[Routed], parking: str) -> None:
    """Send the group as the bridge does, to a queue nobody consumes, then delete that queue:
    Redis accepted every task (so the bridge acked) and then lost them, as a Redis without
    persistence does when it restarts."""
    send_routed_batch([dataclasses.replace(r, queue=parking) for r in group])
    client = redis.Redis.from_url(os.environ["CELERY_BROKER_URL"])
    assert client.llen(parking) == len(group)
    client.delete(parking)


def test_an_acked_message_whose_task_the_broker_lost_is_resent_and_applied_once(
        worker: Worker) -> None:
    contract = address()
    data, attributes = encode("EscrowDeployed", deployed(contract, address(), address()),
                              "cloudevents")
    routed = route("settlement-events", data, attributes, f"m-{uuid.uuid4().hex}")
    inbox_recorder(AFTER)([routed])
    lost_in_the_broker([routed], f"lost-{uuid.uuid4().hex[:8]}")
    assert status(routed) == ("received", 0)

    # Not yet due: nothing is sent while the first send may still be on its way.
    resend_inbox(datetime.now(UTC))
    assert status(routed) == ("received", 0)
    assert escrow_effects([contract])[contract] == (0, 0, 0)
    counted = resent_count()
    assert resend_inbox(datetime.now(UTC) + AFTER * 2) >= 1
    # fusion_tasks_total{state="inbox_resent"}; a process sends its counts within
    # FLUSH_INTERVAL_SECONDS (tasks/task_metrics.py), not in the resend's own round trip.
    wait_for(lambda: resent_count() > counted, timeout=10, what="the resend counted")
    wait_for(lambda: escrow_effects([contract])[contract] == (1, 1, 1), timeout=30,
             what="the re-sent event applied")
    wait_for(lambda: status(routed) == ("processed", 1),
             what="the inbox row processed with the effect")
    # A late duplicate (Pub/Sub redelivered the message) and a second sweep change nothing.
    inbox_recorder(AFTER)([routed])
    send_routed_batch([routed])
    resend_inbox(datetime.now(UTC) + timedelta(days=1))
    drain(("settlement",))
    assert escrow_effects([contract])[contract] == (1, 1, 1)
    assert status(routed) == ("processed", 1)


def test_a_group_is_recorded_in_one_statement_even_with_a_message_twice(
        service_env: dict[str, str]) -> None:
    contracts = [address() for _ in range(3)]
    group = [route("settlement-events", *encode(
        "EscrowDeployed", deployed(c, address(), address()), "cloudevents"), f"m-{c}")
        for c in contracts]
    statements: list[tuple[str, bool]] = []

    def seen(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
             executemany: bool) -> None:
        statements.append((statement, executemany))

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", seen)
    try:
        inbox_recorder(AFTER)([*group, group[0]])
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    # One INSERT carrying every row (the duplicate once), not an executemany of one per row.
    inserts = [statement for statement, _ in statements if "inbound_inbox" in statement]
    assert len(inserts) == 1 and inserts[0].count("%(dedup_key__") == len(group), statements
    assert all(inbox_row(r) is not None for r in group)


@pytest.mark.parametrize("resends", [0, 3])
def test_a_row_that_keeps_coming_back_is_resent_ever_less_often(
        service_env: dict[str, str], resends: int) -> None:
    from app.services import inbox  # noqa: PLC0415

    routed = route("settlement-events", *encode(
        "EscrowDeployed", deployed(address(), address(), address()), "cloudevents"),
        f"m-{uuid.uuid4().hex}")
    inbox_recorder(AFTER)([routed])
    now = datetime.now(UTC) + AFTER * 2
    with unit_of_work() as session:
        entry = session.get(InboxEntry, (routed.subscription, routed.dedup_key))
        assert entry is not None
        entry.resends, entry.next_resend_at = resends, now - timedelta(seconds=1)
    with unit_of_work() as session:
        due = inbox.due_for_resend(session, now, AFTER)
    assert routed.task_id in {r.task_id for r in due}
    row = inbox_row(routed)
    assert row is not None and row.resends == resends + 1
    assert row.next_resend_at - now == min(AFTER * 2 ** (resends + 1), inbox.MAX_BACKOFF)


def test_the_nightly_prune_deletes_only_rows_processed_before_the_retention(
        service_env: dict[str, str]) -> None:
    from app.services import inbox  # noqa: PLC0415

    now = datetime.now(UTC)
    tag = uuid.uuid4().hex[:8]
    rows = {  # dedup key -> (status, processed_at)
        f"old-done-{tag}": ("processed", now - timedelta(days=9)),
        f"new-done-{tag}": ("processed", now - timedelta(days=1)),
        f"old-open-{tag}": ("received", None),
    }
    with unit_of_work() as session:
        for key, (status, processed_at) in rows.items():
            session.add(InboxEntry(subscription="prune-test", dedup_key=key, task_name="t",
                                   message_id=key, event={}, status=status, resends=0,
                                   received_at=now - timedelta(days=10),
                                   next_resend_at=now + timedelta(days=1),
                                   processed_at=processed_at))
    with unit_of_work() as session:
        assert inbox.prune_processed(session, now, timedelta(days=7)) >= 1
    with unit_of_work() as session:
        left = set(session.scalars(select(InboxEntry.dedup_key).where(
            InboxEntry.subscription == "prune-test", InboxEntry.dedup_key.in_(list(rows)))))
    assert left == {f"new-done-{tag}", f"old-open-{tag}"}


def test_a_replayed_dead_letter_is_kept_in_the_inbox_until_applied(
        service_env: dict[str, str]) -> None:
    """A replay marks the letter replayed and sends after commit: if that send is lost, the
    inbox row written in the same unit of work is what the sweeper sends again."""
    import json  # noqa: PLC0415

    from app.services import dead_letters, inbox  # noqa: PLC0415

    contract = address()
    broken = deployed(contract, address(), address())
    data, attributes = encode("EscrowDeployed", {**broken, "approvalsRequired": 7}, "flat")
    with unit_of_work() as session:
        letter = dead_letters.store(session, subscription="settlement-events",
                                    message_id=f"m-{uuid.uuid4().hex}", data=data,
                                    attributes=attributes, reason="invalid_payload",
                                    detail="approvalsRequired")
    fixed = json.dumps({**broken, "approvalsRequired": 2}).encode()
    with unit_of_work() as session:
        routed = dead_letters.replay(session, letter.id, data=fixed,
                                     resend_after=timedelta(seconds=60))
    # The send after commit is "lost" here: nothing is sent.
    with unit_of_work() as session:
        row = session.get(InboxEntry, (routed.subscription, routed.dedup_key))
        assert row is not None and row.status == "received"
    # Rolled back: claiming due rows postpones them, and other tests' rows must not move.
    with session_factory()() as session:
        later = datetime.now(UTC) + timedelta(seconds=61)
        due = inbox.due_for_resend(session, later, timedelta(seconds=60), limit=100_000)
        session.rollback()
    assert routed.dedup_key in {r.dedup_key for r in due}
