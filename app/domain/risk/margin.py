"""Margin health (DOMAIN.md §3) in exact Decimal arithmetic, and the margin event a status
change raises.

Valuations are exact: quantities and prices are NUMERIC(38, 18), so a product has at most 76
significant digits and the 100-digit context never rounds a sum. Ratios (health score,
liquidation drop) are rounded once, at 50 significant digits, far below any output precision;
the set-based batch feeds the same `assess` with exact sums from PostgreSQL, so both paths agree
to the last digit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal, DivisionByZero, InvalidOperation, Overflow
from enum import StrEnum

EXACT = Context(prec=100, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero,
                                                            Overflow])
RATIO = Context(prec=50, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero,
                                                           Overflow])
ZERO = Decimal(0)
HUNDRED = Decimal(100)
# The numeraire is worth one USD by definition; it never has a stale price.
NUMERAIRE = "USD"
LIQUIDATION_FACTOR = Decimal("1.15")
INITIAL_MARGIN = Decimal("0.20")
MAINTENANCE_MARGIN = Decimal("0.15")


class MarginStatus(StrEnum):
    HEALTHY = "HEALTHY"
    WARNING = "WARNING"
    MARGIN_CALL = "MARGIN_CALL"
    LIQUIDATION = "LIQUIDATION"
    UNKNOWN = "UNKNOWN"


# Lower bound of each band, inclusive (orig.): >= 50, >= 30, >= 15, below 15.
BANDS: tuple[tuple[Decimal, MarginStatus], ...] = (
    (Decimal(50), MarginStatus.HEALTHY),
    (Decimal(30), MarginStatus.WARNING),
    (Decimal(15), MarginStatus.MARGIN_CALL),
)


@dataclass(frozen=True, slots=True)
class Position:
    """An account's quantities of one asset; escrowed amounts count as collateral."""

    asset: str
    collateral: Decimal = ZERO
    borrowed: Decimal = ZERO
    escrowed: Decimal = ZERO

    @property
    def is_empty(self) -> bool:
        return not (self.collateral or self.borrowed or self.escrowed)


@dataclass(frozen=True, slots=True)
class Price:
    asset: str
    price_usd: Decimal
    as_of: datetime


@dataclass(frozen=True, slots=True)
class MarginHealth:
    """One calculation's result. Every figure is None when the status is UNKNOWN: a valuation
    with a missing or stale price is not a number anyone should act on."""

    status: MarginStatus
    health_score: Decimal | None
    total_collateral_usd: Decimal | None
    total_borrow_usd: Decimal | None
    liquidation_price_drop_percent: Decimal | None
    initial_margin_usd: Decimal | None
    maintenance_margin_usd: Decimal | None
    unpriced_assets: tuple[str, ...] = ()


def status_for(score: Decimal) -> MarginStatus:
    for floor, status in BANDS:
        if score >= floor:
            return status
    return MarginStatus.LIQUIDATION


def health_score(collateral_usd: Decimal, borrow_usd: Decimal) -> Decimal:
    """(C - B) / B * 100; B = 0 → 100 (orig.)."""
    if borrow_usd == 0:
        return HUNDRED
    return RATIO.divide(EXACT.multiply(EXACT.subtract(collateral_usd, borrow_usd), HUNDRED),
                        borrow_usd)


def liquidation_drop_percent(collateral_usd: Decimal, borrow_usd: Decimal) -> Decimal:
    """(C - 1.15·B) / C * 100: how far collateral prices may fall before liquidation."""
    if borrow_usd == 0 or collateral_usd == 0:
        return ZERO
    cushion = EXACT.subtract(collateral_usd, EXACT.multiply(LIQUIDATION_FACTOR, borrow_usd))
    return RATIO.divide(EXACT.multiply(cushion, HUNDRED), collateral_usd)


def assess(collateral_usd: Decimal, borrow_usd: Decimal,
           unpriced_assets: Iterable[str] = ()) -> MarginHealth:
    """Margin health from exact USD totals; any unpriced asset makes it UNKNOWN."""
    unpriced = tuple(sorted(set(unpriced_assets)))
    if unpriced:
        return MarginHealth(MarginStatus.UNKNOWN, None, None, None, None, None, None, unpriced)
    score = health_score(collateral_usd, borrow_usd)
    return MarginHealth(
        status=status_for(score),
        health_score=score,
        total_collateral_usd=collateral_usd,
        total_borrow_usd=borrow_usd,
        liquidation_price_drop_percent=liquidation_drop_percent(collateral_usd, borrow_usd),
        initial_margin_usd=EXACT.multiply(INITIAL_MARGIN, collateral_usd),
        maintenance_margin_usd=EXACT.multiply(MAINTENANCE_MARGIN, collateral_usd),
    )


def is_stale(price: Price | None, now: datetime, max_age: timedelta) -> bool:
    return price is None or now - price.as_of > max_age


def value(positions: Iterable[Position], prices: Mapping[str, Price], now: datetime,
          max_age: timedelta) -> tuple[Decimal, Decimal, tuple[str, ...]]:
    """(C, B, unpriced assets): exact USD sums of collateral (escrow included) and borrows."""
    collateral, borrowed, unpriced = ZERO, ZERO, set()
    for position in positions:
        if position.is_empty:
            continue
        if position.asset == NUMERAIRE:
            unit = Decimal(1)
        else:
            price = prices.get(position.asset)
            if price is None or is_stale(price, now, max_age):
                unpriced.add(position.asset)
                continue
            unit = price.price_usd
        held = EXACT.add(position.collateral, position.escrowed)
        collateral = EXACT.add(collateral, EXACT.multiply(held, unit))
        borrowed = EXACT.add(borrowed, EXACT.multiply(position.borrowed, unit))
    return collateral, borrowed, tuple(sorted(unpriced))


def assess_positions(positions: Iterable[Position], prices: Mapping[str, Price],
                     now: datetime, max_age: timedelta) -> MarginHealth:
    return assess(*value(positions, prices, now, max_age))


# --- margin events ------------------------------------------------------------------------


class MarginEventType(StrEnum):
    MARGIN_WARNING = "margin_warning"
    MARGIN_CALL = "margin_call"
    LIQUIDATION_IMMINENT = "liquidation_imminent"
    MARGIN_RECOVERED = "margin_recovered"


_INTO: dict[MarginStatus, tuple[MarginEventType, str]] = {
    MarginStatus.WARNING: (MarginEventType.MARGIN_WARNING, "medium"),
    MarginStatus.MARGIN_CALL: (MarginEventType.MARGIN_CALL, "high"),
    MarginStatus.LIQUIDATION: (MarginEventType.LIQUIDATION_IMMINENT, "critical"),
    MarginStatus.HEALTHY: (MarginEventType.MARGIN_RECOVERED, "low"),
}


@dataclass(frozen=True, slots=True)
class MarginChange:
    event_type: MarginEventType
    severity: str
    previous: MarginStatus
    current: MarginStatus


def margin_change(previous_known: MarginStatus | None,
                  current: MarginStatus) -> MarginChange | None:
    """The event a new status raises, if any (fix: only on a change, not every calculation).

    `previous_known` is the last status that was not UNKNOWN: an UNKNOWN result raises nothing
    and does not move the baseline, so HEALTHY → UNKNOWN → HEALTHY is silent while
    HEALTHY → UNKNOWN → LIQUIDATION still alerts. An account seen for the first time is
    measured against HEALTHY, so a new account already in WARNING is alerted.
    """
    if current is MarginStatus.UNKNOWN:
        return None
    baseline = previous_known or MarginStatus.HEALTHY
    if current is baseline:
        return None
    event_type, severity = _INTO[current]
    return MarginChange(event_type, severity, baseline, current)


_QUANTA = {places: Decimal(1).scaleb(-places) for places in range(19)}


def rounded(value: Decimal, places: int = 2) -> Decimal:
    """Output rounding, stated once: banker's rounding (half-even), applied at output only."""
    return value.quantize(_QUANTA[places], ROUND_HALF_EVEN, context=RATIO)


def describe_change(account_id: str, change: MarginChange, score: Decimal | None) -> str:
    shown = "n/a" if score is None else f"{rounded(score)}%"
    return (f"account {account_id} moved from {change.previous} to {change.current} "
            f"(health score {shown})")
