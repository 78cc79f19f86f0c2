"""bridges.group_send: messages waiting while the broker is busy go in one group; each is acked
only after its group is in the broker, and every message of a failed group is nacked."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from app.messaging.routing import Routed
from bridges.group_send import GroupSender, Pending, RecordGroup, SenderClosed, SendGroup


@dataclass
class Message:
    message_id: str
    outcome: str | None = None  # "ack" or "nack"

    def ack(self) -> None:
        self.outcome = "ack"

    def nack(self) -> None:
        self.outcome = "nack"


def pending(n: int) -> Pending:
    routed = Routed(task_name="alerts.record_margin_alert", queue="alerts", task_id=f"t-{n}",
                    event={"event_type": "MarginAlert", "dedup_key": f"k-{n}",
                           "message_id": f"m-{n}"})
    return Pending(routed, Message(f"m-{n}"), "margin-alerts", time.monotonic())


class Broker:
    """Records each group; the first group blocks until released, so later ones pile up."""

    def __init__(self, *, fail: bool = False) -> None:
        self.groups: list[list[str]] = []
        self.release = threading.Event()
        self.busy = threading.Event()
        self.fail = fail

    def __call__(self, group: Sequence[Routed]) -> None:
        if not self.groups:
            self.busy.set()
            assert self.release.wait(5)
        # The message of a group must not be acked before the group is in the broker.
        self.groups.append([r.task_id for r in group])
        if self.fail:
            raise ConnectionError("broker down")


class Inbox:
    """Records each group it keeps; `fail` makes it refuse them (PostgreSQL down)."""

    def __init__(self, broker: Broker | None = None, *, fail: bool = False) -> None:
        self.groups: list[list[str]] = []
        self.broker, self.fail = broker, fail

    def __call__(self, group: Sequence[Routed]) -> None:
        if self.broker is not None:
            # The inbox row comes first: the broker must not hold a task the inbox lacks.
            assert len(self.broker.groups) == len(self.groups)
        self.groups.append([r.task_id for r in group])
        if self.fail:
            raise ConnectionError("database down")


def sender_for(broker: SendGroup, inbox: RecordGroup | None = None, **options: object
               ) -> GroupSender:
    return GroupSender(broker, record_group=inbox or Inbox(), **options)  # type: ignore[arg-type]


def settled(messages: list[Pending], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(p.message.outcome for p in messages):  # type: ignore[attr-defined]
            return True
        time.sleep(0.005)
    return False


def outcome(p: Pending) -> str | None:
    return p.message.outcome  # type: ignore[attr-defined, no-any-return]


def test_messages_waiting_while_the_broker_is_busy_go_in_one_group() -> None:
    broker = Broker()
    sender = sender_for(broker)
    first, rest = pending(0), [pending(n) for n in range(1, 9)]
    sender.submit(first)
    assert broker.busy.wait(5)
    for p in rest:
        sender.submit(p)
    assert all(outcome(p) is None for p in [first, *rest])  # nothing acked before sent
    broker.release.set()
    assert settled([first, *rest])
    sender.close()
    assert broker.groups == [["t-0"], [f"t-{n}" for n in range(1, 9)]]
    assert all(outcome(p) == "ack" for p in [first, *rest])


def test_a_group_is_never_larger_than_max_group() -> None:
    broker = Broker()
    sender = sender_for(broker, max_group=3)
    sender.submit(pending(0))
    assert broker.busy.wait(5)
    later = [pending(n) for n in range(1, 8)]
    for p in later:
        sender.submit(p)
    broker.release.set()
    assert settled(later)
    sender.close()
    assert [len(g) for g in broker.groups] == [1, 3, 3, 1]


def test_every_message_of_a_failed_group_is_nacked_after_a_pause() -> None:
    broker = Broker(fail=True)
    broker.release.set()
    pauses: list[float] = []
    sender = sender_for(broker, sleep=pauses.append)
    batch = [pending(n) for n in range(5)]
    for p in batch:
        sender.submit(p)
    assert settled(batch)
    sender.close()
    assert all(outcome(p) == "nack" for p in batch)
    assert sender.failures == len(broker.groups)
    assert pauses and all(0 < pause <= 5.0 for pause in pauses)
    assert pauses == sorted(pauses)  # the pause grows while the broker keeps failing


def test_close_sends_and_acks_what_is_waiting_then_refuses_more() -> None:
    broker = Broker()
    sender = sender_for(broker)
    sender.submit(pending(0))
    assert broker.busy.wait(5)
    waiting = pending(1)
    sender.submit(waiting)
    closer = threading.Thread(target=sender.close)
    closer.start()
    time.sleep(0.05)
    with pytest.raises(SenderClosed):
        sender.submit(pending(2))
    broker.release.set()
    closer.join(5)
    assert outcome(waiting) == "ack"
    assert broker.groups == [["t-0"], ["t-1"]]


def test_an_error_while_settling_a_group_does_not_stop_the_sender() -> None:
    class Unackable(Message):
        def ack(self) -> None:
            raise RuntimeError("stream gone")

    broker = Broker()
    broker.release.set()
    sender = sender_for(broker)
    bad = pending(0)
    bad = Pending(bad.routed, Unackable("m-0"), bad.subscription, bad.received_at)
    sender.submit(bad)
    assert settled([bad])
    assert outcome(bad) == "nack"
    later = pending(1)
    sender.submit(later)
    assert settled([later])
    assert outcome(later) == "ack"
    assert sender.alive
    sender.close()


def test_a_group_goes_to_the_inbox_before_the_broker() -> None:
    broker = Broker()
    broker.release.set()
    inbox = Inbox(broker)
    sender = sender_for(broker, inbox)
    batch = [pending(n) for n in range(4)]
    for p in batch:
        sender.submit(p)
    assert settled(batch)
    sender.close()
    assert all(outcome(p) == "ack" for p in batch)
    ids = [f"t-{n}" for n in range(4)]
    assert sorted(t for g in inbox.groups for t in g) == ids
    assert sorted(t for g in broker.groups for t in g) == ids


def test_with_the_inbox_down_nothing_is_sent_and_every_message_is_nacked() -> None:
    broker = Broker()
    broker.release.set()
    inbox = Inbox(fail=True)
    pauses: list[float] = []
    sender = sender_for(broker, inbox, sleep=pauses.append)
    batch = [pending(n) for n in range(5)]
    for p in batch:
        sender.submit(p)
    assert settled(batch)
    sender.close()
    assert all(outcome(p) == "nack" for p in batch)
    assert broker.groups == []  # never acked (nor sent) without its inbox row
    assert sender.failures == len(inbox.groups) and pauses
