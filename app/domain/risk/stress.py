"""Stress scenarios (orig.): collateral prices fall by a fixed share; borrows keep their value."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from app.domain.errors import InvalidInput
from app.domain.risk.margin import EXACT, MarginHealth, assess

SCENARIOS: dict[str, Decimal] = {
    "crash": Decimal("-0.20"),
    "recession": Decimal("-0.15"),
    "volatility": Decimal("-0.10"),
}


@dataclass(frozen=True, slots=True)
class StressResult:
    scenario: str
    collateral_shock: Decimal
    health: MarginHealth


def check_scenarios(names: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(names))
    unknown = [n for n in chosen if n not in SCENARIOS]
    if unknown:
        raise InvalidInput(f"unknown scenarios {unknown}; choose from {sorted(SCENARIOS)}",
                           code="unknown_scenario", field="scenarios")
    return chosen


def stress(collateral_usd: Decimal, borrow_usd: Decimal,
           scenarios: Iterable[str]) -> list[StressResult]:
    """Health after each scenario's collateral shock, in exact arithmetic."""
    results = []
    for name in scenarios:
        shock = SCENARIOS[name]
        shocked = EXACT.multiply(collateral_usd, EXACT.add(Decimal(1), shock))
        results.append(StressResult(name, shock, assess(shocked, borrow_usd)))
    return results
