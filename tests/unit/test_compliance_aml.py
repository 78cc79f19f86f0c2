"""AML rules over explicit timestamps: window edges, points, levels (DOMAIN.md §4)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.domain.compliance.aml import Checked, Level, RuleSet, Txn, assess, within

RULES_FILE = Path(__file__).resolve().parents[2] / "app" / "data" / "aml_rules.json"
T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TICK = timedelta(microseconds=1)


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return RuleSet.from_config(json.loads(RULES_FILE.read_text()))


def txn(name: str, at: datetime, usd: str | None = "100") -> Txn:
    value = Decimal(usd) if usd is not None else None
    return Txn(name, at, value, value or Decimal(1), "USD" if usd is not None else "XYZ")


def check(current: Txn, *, type: str = "deposit", counterparty: str = "acme",
          country: str | None = None, sanctions: dict[str, Any] | None = None) -> Checked:
    return Checked(current, type, counterparty, country, sanctions)


def fired(rules: RuleSet, current: Txn, history: list[Txn], **kw: Any) -> dict[str, Any]:
    return {f.rule: f for f in assess(rules, check(current, **kw), history).fired}


def test_the_rules_are_versioned_data(rules: RuleSet) -> None:
    assert rules.version
    assert rules.points["structuring"] == Decimal("0.40")
    assert "KP" in rules.high_risk_countries


def test_structuring_needs_three_in_band_transactions_within_24_hours(rules: RuleSet) -> None:
    history = [txn("a", T - timedelta(hours=23), "9500"), txn("b", T - timedelta(hours=5), "9001")]
    found = fired(rules, txn("c", T, "9999.99"), history)
    assert found["structuring"].evidence["count"] == 3
    assert [t["check_id"] for t in found["structuring"].evidence["transactions"]] == ["a", "b", "c"]
    assert "structuring" not in fired(rules, txn("c", T, "9999.99"), history[1:])


def test_structuring_window_edges(rules: RuleSet) -> None:
    recent = txn("b", T - timedelta(hours=1), "9500")
    exactly_24h = txn("a", T - timedelta(hours=24), "9500")
    just_inside = txn("a", T - timedelta(hours=24) + TICK, "9500")
    assert "structuring" not in fired(rules, txn("c", T, "9500"), [exactly_24h, recent])
    assert "structuring" in fired(rules, txn("c", T, "9500"), [just_inside, recent])


def test_later_transactions_are_not_in_an_earlier_window(rules: RuleSet) -> None:
    later = [txn("x", T + TICK, "9500"), txn("y", T + timedelta(hours=1), "9500")]
    assert "structuring" not in fired(rules, txn("c", T, "9500"), later)


@pytest.mark.parametrize(("usd", "in_band"), [
    ("9000", True), ("8999.99", False), ("9999.99", True), ("10000", False)])
def test_structuring_band_is_10_percent_below_the_threshold(rules: RuleSet, usd: str,
                                                           in_band: bool) -> None:
    assert rules.in_structuring_band(Decimal(usd)) is in_band


def test_an_unrelated_payment_does_not_repeat_structuring(rules: RuleSet) -> None:
    band = [txn(str(i), T - timedelta(hours=i + 1), "9500") for i in range(3)]
    assert "structuring" not in fired(rules, txn("small", T, "50"), band)


def test_velocity_is_more_than_ten_transactions_in_one_hour(rules: RuleSet) -> None:
    ten_before = [txn(f"v{i}", T - timedelta(minutes=59) + timedelta(minutes=5 * i))
                  for i in range(10)]
    assert fired(rules, txn("now", T), ten_before)["velocity"].evidence["count"] == 11
    assert "velocity" not in fired(rules, txn("now", T), ten_before[1:])


def test_velocity_window_edges(rules: RuleSet) -> None:
    nine = [txn(f"v{i}", T - timedelta(minutes=i + 1)) for i in range(9)]
    at_edge = txn("edge", T - timedelta(hours=1))
    assert "velocity" not in fired(rules, txn("now", T), [*nine, at_edge])
    assert "velocity" in fired(rules, txn("now", T),
                               [*nine, txn("edge", T - timedelta(hours=1) + TICK)])


def test_within_is_half_open() -> None:
    history = [txn("out", T - timedelta(hours=1)), txn("in", T - timedelta(hours=1) + TICK),
               txn("now", T), txn("later", T + TICK)]
    assert [t.txn_id for t in within(timedelta(hours=1), T, history)] == ["in", "now"]


def test_amount_points_and_levels(rules: RuleSet) -> None:
    small = assess(rules, check(txn("a", T, "9999")), [])
    assert (small.score, small.level, small.fired) == (Decimal(0), Level.LOW, ())
    reportable = assess(rules, check(txn("a", T, "10000")), [])
    assert (reportable.score, reportable.level) == (Decimal("0.25"), Level.LOW)
    large = assess(rules, check(txn("a", T, "100000"), type="withdrawal"), [])
    assert {f.rule for f in large.fired} == {"reporting_threshold", "large_amount", "outbound"}
    assert (large.score, large.level) == (Decimal("0.60"), Level.MEDIUM)
    risky = assess(rules, check(txn("a", T, "100000"), type="external_transfer", country="ir"),
                   [])
    assert (risky.score, risky.level) == (Decimal("0.90"), Level.HIGH)
    assert risky.opens_alert and not small.opens_alert


def test_level_boundaries(rules: RuleSet) -> None:
    assert rules.level(Decimal("0.29")) is Level.LOW
    assert rules.level(Decimal("0.3")) is Level.MEDIUM
    assert rules.level(Decimal("0.69")) is Level.MEDIUM
    assert rules.level(Decimal("0.7")) is Level.HIGH


def test_a_sanctioned_counterparty_caps_the_score_at_one(rules: RuleSet) -> None:
    hit = {"entry_uid": 29702, "list_version": 3}
    result = assess(rules, check(txn("a", T, "100000"), type="withdrawal", country="KP",
                                 sanctions=hit), [])
    assert result.score == Decimal("1.0")
    assert result.level is Level.HIGH
    sanctioned = next(f for f in result.fired if f.rule == "sanctioned_counterparty")
    assert sanctioned.evidence == hit


def test_an_unpriced_amount_fires_no_amount_rule_and_says_so(rules: RuleSet) -> None:
    result = assess(rules, check(txn("a", T, None), type="withdrawal"), [])
    assert result.unpriced
    assert [f.rule for f in result.fired] == ["outbound"]
