"""Value at risk with numpy (DOMAIN.md §3): historical and parametric VaR and CVaR of a
value-weighted portfolio, for 1/7/30-day horizons.

The only floating-point module of the risk engine: returns and their statistics are estimates,
where binary floats lose nothing that matters. Inputs arrive and results leave as Decimal;
which order statistic is the quantile is decided exactly (app.domain.risk.var.tail_count).

Portfolio: each asset's signed USD exposure v_i (collateral + escrowed - borrowed, at the latest
price); V = Σ|v_i| over all positions (the gross value). Daily portfolio return
R_t = Σ v_i·r_i,t / V, i.e. weights by value, not by quantity (fix). The numeraire (USD) has
no returns. A loss is reported as a positive USD amount; a tail that gains reports 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import numpy as np
from numpy.typing import NDArray

from app.domain.risk.margin import NUMERAIRE, rounded
from app.domain.risk.var import FALLBACK_SIGMA, MIN_RETURNS_FOR_SIGMA, Z_SCORES, tail_count

Closes = Mapping[str, Sequence[tuple[date, Decimal]]]


@dataclass(frozen=True, slots=True)
class VarLine:
    horizon_days: int
    var_usd: Decimal
    cvar_usd: Decimal


@dataclass(frozen=True, slots=True)
class VarResult:
    method: str  # historical | parametric
    observations: int
    sigma: Decimal | None
    sigma_fallback: bool
    lines: tuple[VarLine, ...]


def _usd(value: float) -> Decimal:
    return rounded(Decimal(float(value)), 2)


def aligned_returns(closes: Closes, assets: Sequence[str]) -> NDArray[np.float64]:
    """Simple daily returns, one column per asset, over the days every asset has a close."""
    if not assets:
        return np.zeros((0, 0))
    series = [{day: price for day, price in closes.get(asset, ())} for asset in assets]
    days = sorted(set.intersection(*(set(s) for s in series)))
    if len(days) < 2:
        return np.zeros((0, len(assets)))
    prices = np.array([[float(s[day]) for s in series] for day in days], dtype=np.float64)
    returns: NDArray[np.float64] = prices[1:] / prices[:-1] - 1.0
    return returns


def portfolio_returns(exposures: Mapping[str, Decimal],
                      closes: Closes) -> tuple[NDArray[np.float64], float]:
    """(R_t, V): value-weighted daily portfolio returns and the gross value."""
    gross = float(sum((abs(v) for v in exposures.values()), Decimal(0)))
    risky = sorted(a for a, v in exposures.items() if a != NUMERAIRE and v != 0)
    if gross == 0 or not risky:
        return np.zeros(0), gross
    weights = np.array([float(exposures[a]) for a in risky], dtype=np.float64) / gross
    returns: NDArray[np.float64] = aligned_returns(closes, risky) @ weights
    return returns, gross


def historical(returns: NDArray[np.float64], gross: float, confidence: Decimal,
               horizons: Sequence[int]) -> VarResult | None:
    """Loss at the (1 - c) quantile of the returns, and the mean loss of that tail."""
    n = int(returns.size)
    if n == 0:
        return None
    k = tail_count(n, confidence)
    tail = np.sort(returns)[:k]
    var_1d = max(-float(tail[-1]), 0.0) * gross
    cvar_1d = max(-float(tail.mean()), 0.0) * gross
    return VarResult("historical", n, None, False, _scaled(var_1d, cvar_1d, horizons))


def parametric(returns: NDArray[np.float64], gross: float, confidence: Decimal,
               horizons: Sequence[int], *, risky: bool = True) -> VarResult:
    """V·sigma·z and the normal expected shortfall V·sigma·φ(z)/(1 - c); sigma is the
    sample standard deviation, or 0.02 below 30 returns (orig.)."""
    n = int(returns.size)
    fallback = n < MIN_RETURNS_FOR_SIGMA
    sigma = float(FALLBACK_SIGMA) if fallback else float(np.std(returns, ddof=1))
    if not risky:
        sigma = 0.0
    z = float(Z_SCORES[confidence])
    density = math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    var_1d = gross * sigma * z
    cvar_1d = gross * sigma * density / float(Decimal(1) - confidence)
    return VarResult("parametric", n, rounded(Decimal(sigma), 8), fallback and risky,
                     _scaled(var_1d, cvar_1d, horizons))


def _scaled(var_1d: float, cvar_1d: float, horizons: Sequence[int]) -> tuple[VarLine, ...]:
    # Square-root-of-time scaling for the 7- and 30-day horizons (spec).
    return tuple(VarLine(h, _usd(var_1d * math.sqrt(h)), _usd(cvar_1d * math.sqrt(h)))
                 for h in horizons)


def portfolio_var(exposures: Mapping[str, Decimal], closes: Closes, confidence: Decimal,
                  horizons: Sequence[int]) -> tuple[VarResult | None, VarResult]:
    returns, gross = portfolio_returns(exposures, closes)
    risky = any(a != NUMERAIRE and v != 0 for a, v in exposures.items())
    return (historical(returns, gross, confidence, horizons),
            parametric(returns, gross, confidence, horizons, risky=risky))
