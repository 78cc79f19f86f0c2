"""VaR parameters of DOMAIN.md §3 and the exact parts of the method (which order statistic
is the quantile). The floating-point maths over return series is in app.services.risk.var."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_CEILING, Decimal

from app.domain.errors import InvalidInput

# One-sided normal quantiles for the confidences the spec allows.
Z_SCORES: dict[Decimal, Decimal] = {
    Decimal("0.90"): Decimal("1.282"),
    Decimal("0.95"): Decimal("1.645"),
    Decimal("0.99"): Decimal("2.326"),
    Decimal("0.995"): Decimal("2.576"),
}
HORIZONS = (1, 7, 30)
LOOKBACK_DAYS = 252
# Fewer returns than this and the sample sigma is noise: use the fallback (orig.).
MIN_RETURNS_FOR_SIGMA = 30
FALLBACK_SIGMA = Decimal("0.02")


def check_confidence(raw: str | Decimal) -> Decimal:
    try:
        value = Decimal(str(raw).strip())
    except ArithmeticError as exc:
        raise InvalidInput(f"confidence {raw!r} is not a decimal", code="invalid_confidence",
                           field="confidence") from exc
    for allowed in Z_SCORES:
        if value == allowed:
            return allowed
    raise InvalidInput(f"confidence must be one of {[str(c) for c in Z_SCORES]}",
                       code="unsupported_confidence", field="confidence")


def check_horizons(horizons: Iterable[int]) -> list[int]:
    chosen = sorted(set(horizons))
    if not chosen or any(h not in HORIZONS for h in chosen):
        raise InvalidInput(f"horizons must be a non-empty subset of {list(HORIZONS)} days",
                           code="unsupported_horizon", field="horizons")
    return chosen


def tail_count(observations: int, confidence: Decimal) -> int:
    """How many of the worst returns form the (1 - c) tail: ceil(n·(1 - c)), at least one.

    Computed in Decimal so that 20 * (1 - 0.95) is exactly 1, not 1.0000000000000009 as in
    binary floating point (which would pick the wrong order statistic).
    """
    share = (Decimal(observations) * (Decimal(1) - confidence)).to_integral_value(ROUND_CEILING)
    return max(1, min(observations, int(share)))
