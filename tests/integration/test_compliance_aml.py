"""AML checks on a real worker: the party's history in Postgres, window edges with explicit
timestamps, alerts for medium and high, check.completed in the outbox."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.config import get_settings
from app.domain.errors import Conflict, GuardFailed, InvalidInput
from app.persistence.compliance_models import AmlCheck, ComplianceAlert
from app.persistence.db import unit_of_work
from app.persistence.models import OutboxEvent
from app.services.compliance import alerts, aml, pricing
from app.services.compliance.sanctions_loader import load_directory
from tests.support import Worker, wait_for

pytestmark = pytest.mark.integration
SMALL = Path(__file__).resolve().parent.parent / "data" / "ofac-sdn-small"
# Fixed, in the past: the windows are evaluated at occurred_at, not at the wall clock.
T = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
TICK = timedelta(microseconds=1)


def party() -> str:
    return f"aml-{uuid.uuid4().hex[:8]}"


def accept(who: str, amount: str, at: datetime, *, asset: str = "USD", type: str = "deposit",
           counterparty: str = "bank-1", country: str | None = None) -> str:
    with unit_of_work() as session:
        return aml.accept_check(session, get_settings().asset_decimals, party=who,
                                counterparty=counterparty, amount=amount, asset=asset,
                                type=type, occurred_at=at, country=country,
                                now=datetime.now(UTC)).check_id


def assessed(check_id: str) -> dict[str, Any]:
    from tasks.compliance import send_check  # noqa: PLC0415 - after service_env's settings

    send_check(check_id)

    def completed() -> dict[str, Any] | None:
        with unit_of_work() as session:
            check = session.get(AmlCheck, check_id)
            return aml.check_view(check) if check and check.status == "completed" else None

    return wait_for(completed, timeout=30, what=f"check {check_id}")


def rules(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["rule"]: r for r in view["rules"]}


def test_structuring_at_the_24_hour_edge(worker: Worker) -> None:
    outside, inside = party(), party()
    for who, first in ((outside, T - timedelta(hours=24)),
                       (inside, T - timedelta(hours=24) + TICK)):
        accept(who, "9500.00", first)
        accept(who, "9100.00", T - timedelta(hours=3))
    assert "structuring" not in rules(assessed(accept(outside, "9900.00", T)))
    view = assessed(accept(inside, "9900.00", T))
    structuring = rules(view)["structuring"]
    assert structuring["points"] == "0.40"
    assert structuring["evidence"]["count"] == 3
    assert (view["score"], view["level"]) == ("0.40", "medium")
    assert view["alert_id"] is not None


def test_history_counts_whatever_order_checks_run_in(worker: Worker) -> None:
    who = party()
    last = accept(who, "9500", T)
    accept(who, "9500", T - timedelta(hours=2))
    accept(who, "9500", T - timedelta(hours=1))
    # The last transaction is assessed first; the earlier ones are history already.
    assert "structuring" in rules(assessed(last))


def test_velocity_at_the_one_hour_edge(worker: Worker) -> None:
    at_edge, inside = party(), party()
    for who, oldest in ((at_edge, T - timedelta(hours=1)),
                        (inside, T - timedelta(hours=1) + TICK)):
        accept(who, "10", oldest)
        for minute in range(1, 10):
            accept(who, "10", T - timedelta(minutes=minute))
    assert "velocity" not in rules(assessed(accept(at_edge, "10", T)))
    velocity = rules(assessed(accept(inside, "10", T)))["velocity"]
    assert velocity["evidence"]["count"] == 11
    assert velocity["evidence"]["more_than"] == 10


def test_high_risk_outbound_large_amount_opens_a_high_alert(worker: Worker) -> None:
    who = party()
    view = assessed(accept(who, "150000", T, type="external_transfer", country="IR"))
    assert set(rules(view)) == {"reporting_threshold", "large_amount", "outbound", "high_risk"}
    assert (view["score"], view["level"]) == ("0.90", "high")
    with unit_of_work() as session:
        alert = session.get(ComplianceAlert, view["alert_id"])
        assert alert is not None
        assert (alert.level, alert.status, alert.party, alert.kind) == (
            "high", "open", who, "aml_check")
        event = session.scalars(select(OutboxEvent).where(
            OutboxEvent.event_type == "check.completed",
            OutboxEvent.payload["check_id"].astext == view["check_id"])).one()
        assert event.topic == "compliance.results.v1"
        assert event.payload["level"] == "high"


def test_a_sanctioned_counterparty_scores_one(worker: Worker) -> None:
    with unit_of_work() as session:
        load_directory(session, SMALL, rescreen_after=False)
    view = assessed(accept(party(), "10", T,
                           counterparty="0x901bb9583b24d97e995513c6778dc6888ab6870e"))
    sanctioned = rules(view)["sanctioned_counterparty"]
    assert sanctioned["evidence"]["entry_uid"] == 29702
    assert (view["score"], view["level"]) == ("1.00", "high")


def test_low_scores_open_no_alert_and_assessing_twice_changes_nothing(worker: Worker) -> None:
    check_id = accept(party(), "20", T)
    first = assessed(check_id)
    assert (first["score"], first["level"], first["alert_id"]) == ("0.00", "low", None)
    assert assessed(check_id) == first


def test_stablecoins_count_at_par_and_unpriced_assets_say_so(worker: Worker) -> None:
    view = assessed(accept(party(), "10000", T, asset="USDC"))
    assert view["valuation"]["source"] == "par"
    assert "reporting_threshold" in rules(view)
    with unit_of_work() as session:
        priced = pricing.latest_price(session, "GBP") is not None
    view = assessed(accept(party(), "10000", T, asset="GBP"))
    if not priced:
        assert view["valuation"] == {"usd": None, "source": "unpriced", "price_usd": None,
                                     "price_time": None}
        assert "reporting_threshold" not in rules(view)


def test_check_ids_are_idempotent_and_input_is_validated(service_env: dict[str, str]) -> None:
    decimals, now = get_settings().asset_decimals, datetime.now(UTC)
    body: dict[str, Any] = {"party": party(), "counterparty": "bank-1", "amount": "5.00",
                            "asset": "USD", "type": "deposit", "occurred_at": T, "now": now,
                            "check_id": f"c-{uuid.uuid4().hex[:8]}"}
    with unit_of_work() as session:
        assert aml.accept_check(session, decimals, **body).created
    with unit_of_work() as session:
        assert not aml.accept_check(session, decimals, **{**body, "amount": "5"}).created
    with pytest.raises(Conflict), unit_of_work() as session:
        aml.accept_check(session, decimals, **{**body, "amount": "6"})
    for bad in ({"amount": "NaN"}, {"asset": "DOGE"}, {"type": "gift"}, {"country": "IRN"},
                {"occurred_at": now + timedelta(hours=1)}, {"party": "external:bank"}):
        with pytest.raises(InvalidInput), unit_of_work() as session:
            aml.accept_check(session, decimals, **{**body, "check_id": None, **bad})


def test_the_alert_workflow(worker: Worker) -> None:
    view = assessed(accept(party(), "9999", T, type="withdrawal", country="KP"))
    alert_id, now = view["alert_id"], datetime.now(UTC)
    with pytest.raises(GuardFailed), unit_of_work() as session:
        alerts.transition_alert(session, alert_id, to="resolved", reason="x", reviewer="r",
                                now=now)
    with unit_of_work() as session:
        alerts.transition_alert(session, alert_id, to="investigating", reason=None,
                                reviewer="rita", now=now)
    with unit_of_work() as session:
        alert = alerts.transition_alert(session, alert_id, to="false_positive",
                                        reason="known customer", reviewer="rita", now=now)
        assert alert.status == "false_positive"
        assert [h["to"] for h in alert.history] == ["investigating", "false_positive"]
    assert view["score"] == "0.45"
    assert Decimal(view["score"]) < Decimal("0.7")


def test_a_non_usd_amount_is_valued_at_the_latest_price(service_env: dict[str, str]) -> None:
    from sqlalchemy import text  # noqa: PLC0415 - only this test writes raw SQL

    from app.persistence.db import session_factory  # noqa: PLC0415

    session = session_factory()()
    try:
        if session.execute(text("SELECT to_regclass('risk_prices')")).scalar() is None:
            pytest.skip("no price table in this schema")
        # In a transaction that is rolled back: the risk area's table stays untouched.
        session.execute(text(
            "INSERT INTO risk_prices (asset, price_usd, price_time, tick_seq, recomputed_seq)"
            " VALUES ('ZZCMP', 2500.5, now(), 1, 0)"))
        valued = pricing.usd_value(session, "ZZCMP", Decimal("4"))
        assert (valued.usd, valued.source, valued.price_usd) == (
            Decimal("10002.0"), "latest_price", Decimal("2500.5"))
        assert pricing.usd_value(session, "ZZNONE", Decimal("4")).source == "unpriced"
        assert pricing.usd_value(session, "usdt", Decimal("4")).usd == Decimal("4")
    finally:
        session.rollback()
        session.close()


def test_a_check_whose_send_was_lost_is_resent(worker: Worker) -> None:
    from tasks.compliance import resend_pending  # noqa: PLC0415 - after service_env's settings

    check_id = accept(party(), "15", T)  # accepted, never sent
    assert resend_pending(older_than_seconds=0)["checks"] >= 1

    def done() -> bool:
        with unit_of_work() as session:
            check = session.get(AmlCheck, check_id)
            return check is not None and check.status == "completed"

    wait_for(done, timeout=30, what="resent check")
