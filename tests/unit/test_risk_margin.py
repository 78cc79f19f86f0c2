"""Margin health by hand (DOMAIN.md §3): band boundaries, B = 0, stale prices, the original's
examples, margin events on status changes, requirements, stress. No services."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from app.config import DEFAULT_ASSET_DECIMALS
from app.domain.errors import InvalidInput
from app.domain.risk.inputs import PositionInput, parse_positions, parse_quantity
from app.domain.risk.margin import (
    MarginEventType,
    MarginStatus,
    Position,
    Price,
    assess,
    assess_positions,
    margin_change,
    rounded,
)
from app.domain.risk.stress import check_scenarios, stress

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
MAX_AGE = timedelta(minutes=5)
D = Decimal


def prices(**by_asset: str) -> dict[str, Price]:
    return {a: Price(a, D(p), NOW - timedelta(seconds=10)) for a, p in by_asset.items()}


# B = 100 USD borrowed, C chosen so that the score lands exactly on or just below each floor.
@pytest.mark.parametrize(("collateral", "score", "status", "drop"), [
    ("150", "50", MarginStatus.HEALTHY, D(35) / D(150) * 100),
    ("149.99", "49.99", MarginStatus.WARNING, None),
    ("130", "30", MarginStatus.WARNING, D(15) / D(130) * 100),
    ("129.99", "29.99", MarginStatus.MARGIN_CALL, None),
    ("115", "15", MarginStatus.MARGIN_CALL, D(0)),
    ("114.99", "14.99", MarginStatus.LIQUIDATION, None),
])
def test_band_boundaries_are_inclusive_lower_bounds(collateral: str, score: str,
                                                     status: MarginStatus,
                                                     drop: Decimal | None) -> None:
    health = assess(D(collateral), D(100))
    assert health.health_score == D(score)
    assert health.status is status
    if drop is not None:
        assert rounded(health.liquidation_price_drop_percent or D(0), 10) == rounded(drop, 10)


def test_exactly_fifteen_has_no_room_left_before_liquidation() -> None:
    health = assess(D(115), D(100))
    assert health.liquidation_price_drop_percent == 0  # (115 - 1.15 * 100) / 115
    below = assess(D("114.99"), D(100))
    assert below.liquidation_price_drop_percent is not None
    assert below.liquidation_price_drop_percent < 0


def test_no_borrow_scores_100_and_is_healthy() -> None:
    for collateral in (D(0), D("0.01"), D(1_000_000)):
        health = assess(collateral, D(0))
        assert (health.health_score, health.status) == (D(100), MarginStatus.HEALTHY)
        assert health.liquidation_price_drop_percent == 0


def test_no_collateral_against_a_borrow_is_minus_100_and_liquidation() -> None:
    health = assess(D(0), D(500))
    assert (health.health_score, health.status) == (D(-100), MarginStatus.LIQUIDATION)
    assert health.liquidation_price_drop_percent == 0  # C = 0: defined as 0


def test_requirements_are_20_and_15_percent_of_collateral() -> None:
    health = assess(D(20_000), D(15_000))
    assert health.initial_margin_usd == D(4000)
    assert health.maintenance_margin_usd == D(3000)


def test_original_example_5_eth_against_15000_usdc_at_4000() -> None:
    health = assess_positions([Position("ETH", collateral=D(5)),
                               Position("USDC", borrowed=D(15_000))],
                              prices(ETH="4000", USDC="1"), NOW, MAX_AGE)
    # C = 20,000, B = 15,000: (20,000 - 15,000) / 15,000 * 100 = 33.33...
    assert (health.total_collateral_usd, health.total_borrow_usd) == (D(20_000), D(15_000))
    assert rounded(health.health_score or D(0)) == D("33.33")
    assert health.health_score == D("33." + "3" * 48)  # rounded once, at 50 digits
    assert health.status is MarginStatus.WARNING
    # (20,000 - 1.15 * 15,000) / 20,000 * 100 = 2,750 / 200 = 13.75
    assert health.liquidation_price_drop_percent == D("13.75")


def test_original_example_2_eth_against_45000_usdc_at_4000() -> None:
    health = assess_positions([Position("ETH", collateral=D(2)),
                               Position("USDC", borrowed=D(45_000))],
                              prices(ETH="4000", USDC="1"), NOW, MAX_AGE)
    # C = 8,000, B = 45,000: -37,000 / 45,000 * 100 = -82.22...
    assert rounded(health.health_score or D(0)) == D("-82.22")
    assert health.status is MarginStatus.LIQUIDATION
    # (8,000 - 51,750) / 8,000 * 100 = -546.875: prices are already past liquidation
    assert health.liquidation_price_drop_percent == D("-546.875")


def test_escrowed_quantities_count_as_collateral() -> None:
    health = assess_positions([Position("ETH", collateral=D(3), escrowed=D(2)),
                               Position("USD", borrowed=D(15_000))],
                              prices(ETH="4000"), NOW, MAX_AGE)
    assert health.total_collateral_usd == D(20_000)
    assert health.status is MarginStatus.WARNING


def test_a_stale_or_missing_price_makes_the_status_unknown_not_liquidation() -> None:
    old = {"ETH": Price("ETH", D(4000), NOW - MAX_AGE - timedelta(seconds=1)),
           "USDC": Price("USDC", D(1), NOW)}
    positions = [Position("ETH", collateral=D(5)), Position("USDC", borrowed=D(15_000))]
    stale = assess_positions(positions, old, NOW, MAX_AGE)
    assert stale.status is MarginStatus.UNKNOWN
    assert stale.unpriced_assets == ("ETH",)
    assert stale.health_score is None and stale.total_collateral_usd is None
    missing = assess_positions(positions, {"USDC": old["USDC"]}, NOW, MAX_AGE)
    assert missing.status is MarginStatus.UNKNOWN
    exactly_max_age = {**old, "ETH": Price("ETH", D(4000), NOW - MAX_AGE)}
    assert assess_positions(positions, exactly_max_age, NOW, MAX_AGE).status is not (
        MarginStatus.UNKNOWN)


def test_usd_needs_no_price_and_empty_positions_need_none() -> None:
    health = assess_positions([Position("USD", collateral=D(300), borrowed=D(200)),
                               Position("BTC")], {}, NOW, MAX_AGE)
    assert (health.health_score, health.status) == (D(50), MarginStatus.HEALTHY)


def test_healthy_warning_call_healthy_raises_warning_call_recovered() -> None:
    known: MarginStatus | None = None
    raised = []
    for collateral in ("200", "140", "120", "160"):  # HEALTHY, WARNING, MARGIN_CALL, HEALTHY
        status = assess(D(collateral), D(100)).status
        change = margin_change(known, status)
        if change is not None:
            raised.append((change.event_type, change.severity))
        known = status
    assert raised == [(MarginEventType.MARGIN_WARNING, "medium"),
                      (MarginEventType.MARGIN_CALL, "high"),
                      (MarginEventType.MARGIN_RECOVERED, "low")]


def test_margin_events_only_on_change_and_never_from_unknown() -> None:
    assert margin_change(None, MarginStatus.HEALTHY) is None  # a new, healthy account
    first = margin_change(None, MarginStatus.WARNING)  # a new account already in warning
    assert first is not None and first.previous is MarginStatus.HEALTHY
    assert margin_change(MarginStatus.WARNING, MarginStatus.WARNING) is None
    assert margin_change(MarginStatus.HEALTHY, MarginStatus.UNKNOWN) is None
    # UNKNOWN does not move the baseline: the caller keeps the last known status.
    assert margin_change(MarginStatus.HEALTHY, MarginStatus.HEALTHY) is None
    liquidation = margin_change(MarginStatus.HEALTHY, MarginStatus.LIQUIDATION)
    assert liquidation is not None
    assert (liquidation.event_type, liquidation.severity) == (
        MarginEventType.LIQUIDATION_IMMINENT, "critical")


def test_stress_scenarios_shock_collateral_only() -> None:
    results = {r.scenario: r for r in stress(D(20_000), D(15_000),
                                             ["crash", "recession", "volatility"])}
    assert results["crash"].health.total_collateral_usd == D(16_000)
    assert rounded(results["crash"].health.health_score or D(0)) == D("6.67")
    assert results["crash"].health.status is MarginStatus.LIQUIDATION
    assert results["recession"].health.total_collateral_usd == D(17_000)
    assert results["volatility"].health.health_score == D(20)
    assert results["volatility"].health.status is MarginStatus.MARGIN_CALL
    assert all(r.health.total_borrow_usd == D(15_000) for r in results.values())
    with pytest.raises(InvalidInput):
        check_scenarios(["meteor"])


def test_quantities_are_plain_non_negative_decimals_within_the_asset_precision() -> None:
    decimals = DEFAULT_ASSET_DECIMALS
    assert parse_quantity("0", "USDC", decimals, "q") == 0
    assert parse_quantity("0.000", "USDC", decimals, "q") == 0
    assert parse_quantity("15000.5", "USDC", decimals, "q") == D("15000.5")
    for bad in ("-1", "1e3", "NaN", "1.1234567", "", "Infinity"):
        with pytest.raises(InvalidInput):
            parse_quantity(bad, "USDC", decimals, "q")
    with pytest.raises(InvalidInput) as twice:
        parse_positions([PositionInput("ETH", "1"), PositionInput("eth", "2")], decimals)
    assert twice.value.code == "duplicate_asset"
    with pytest.raises(InvalidInput) as unknown:
        parse_positions([PositionInput("DOGE", "1")], decimals)
    assert unknown.value.code == "unknown_asset"
