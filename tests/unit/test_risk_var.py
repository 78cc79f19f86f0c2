"""VaR and CVaR on small hand-computed series (numpy inside, Decimal at the boundaries)."""

from __future__ import annotations

import math
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np
import pytest

from app.domain.errors import InvalidInput
from app.domain.risk.var import check_confidence, check_horizons, tail_count
from app.services.risk.var import (
    VarResult,
    historical,
    parametric,
    portfolio_returns,
    portfolio_var,
)

D = Decimal
START = date(2026, 1, 1)


def closes_from(first: Decimal, returns: list[str]) -> list[tuple[date, Decimal]]:
    """Daily closes compounding the given simple returns, exactly."""
    prices = [first]
    for r in returns:
        prices.append(prices[-1] * (1 + D(r)))
    return [(START + timedelta(days=i), p) for i, p in enumerate(prices)]


def cents(value: Decimal) -> Decimal:
    return value.quantize(D("0.01"), ROUND_HALF_EVEN)


def line(result: VarResult | None, horizon: int) -> tuple[Decimal, Decimal]:
    assert result is not None
    found = next(x for x in result.lines if x.horizon_days == horizon)
    return found.var_usd, found.cvar_usd


def test_tail_count_is_exact_where_binary_floats_are_not() -> None:
    assert 20 * (1 - 0.95) > 1  # 1.0000000000000009 in floats would pick the 2nd worst
    assert tail_count(20, D("0.95")) == 1
    assert tail_count(20, D("0.90")) == 2
    assert tail_count(5, D("0.99")) == 1
    assert tail_count(1000, D("0.995")) == 5


# Twenty returns; the worst are -5 %, -4 %, -3 %.
RETURNS = ["0.01", "-0.05", "0.02", "0.03", "-0.03", "0.01", "0.02", "0.00", "0.01", "-0.01",
           "0.02", "-0.04", "0.01", "0.03", "0.00", "-0.02", "0.01", "0.02", "-0.01", "0.01"]


def test_historical_var_and_cvar_of_one_asset() -> None:
    closes = {"ETH": closes_from(D(2000), RETURNS)}
    value = 10 * closes["ETH"][-1][1]  # 10 ETH at the last close
    hist, _ = portfolio_var({"ETH": value}, closes, D("0.90"), [1, 7])
    assert hist is not None and hist.observations == 20
    # c = 0.90: tail of ceil(20 * 0.10) = 2 returns {-5 %, -4 %}; VaR at the 2nd worst.
    assert line(hist, 1) == (cents(D("0.04") * value), cents(D("0.045") * value))
    var_7, cvar_7 = line(hist, 7)
    assert abs(var_7 - D("0.04") * value * D(7).sqrt()) <= D("0.01")
    assert abs(cvar_7 - D("0.045") * value * D(7).sqrt()) <= D("0.01")
    strict, _ = portfolio_var({"ETH": value}, closes, D("0.95"), [1])
    assert strict is not None  # c = 0.95: the single worst return
    assert line(strict, 1) == (cents(D("0.05") * value), cents(D("0.05") * value))


def test_weights_are_values_not_quantities() -> None:
    # 1 BTC at 50,000 (flat) and 5 ETH at 1,000 that fell 10 % then recovered 11.1 %.
    closes = {"BTC": [(START, D(50_000)), (START + timedelta(days=1), D(50_000)),
                      (START + timedelta(days=2), D(50_000))],
              "ETH": [(START, D(1000)), (START + timedelta(days=1), D(900)),
                      (START + timedelta(days=2), D(1000))]}
    exposures = {"BTC": D(50_000), "ETH": D(5_000)}
    returns, gross = portfolio_returns(exposures, closes)
    assert gross == 55_000
    np.testing.assert_allclose(returns, [-0.10 * 5 / 55, (1000 / 900 - 1) * 5 / 55])
    hist, _ = portfolio_var(exposures, closes, D("0.95"), [1])
    assert hist is not None
    # The worst day loses 10 % of the 5,000 ETH: 500.00 (quantity weights would say 4,583).
    assert line(hist, 1) == (D("500.00"), D("500.00"))


def test_parametric_falls_back_to_two_percent_below_30_returns() -> None:
    closes = {"ETH": closes_from(D(1000), ["0.01", "-0.01"])}
    result = parametric(np.array([0.01, -0.01]), 55_000.0, D("0.95"), [1, 30])
    assert result.sigma_fallback and result.sigma == D("0.02")
    var_1, cvar_1 = line(result, 1)
    assert var_1 == D("1809.50")  # 55,000 * 0.02 * 1.645
    density = math.exp(-1.645 ** 2 / 2) / math.sqrt(2 * math.pi)
    assert abs(cvar_1 - D(55_000 * 0.02 * density / 0.05)) <= D("0.01")
    assert abs(line(result, 30)[0] - D("1809.50") * D(30).sqrt()) <= D("0.01")
    _, through_portfolio = portfolio_var({"ETH": D(55_000)}, closes, D("0.95"), [1])
    assert line(through_portfolio, 1)[0] == D("1809.50")


def test_parametric_uses_the_sample_sigma_from_30_returns() -> None:
    returns = np.array([0.01, -0.01] * 15)
    result = parametric(returns, 10_000.0, D("0.99"), [1])
    sigma = D("0.01") * (D(30) / D(29)).sqrt()  # mean 0, sum of squares 30 * 0.0001, n - 1
    assert not result.sigma_fallback
    assert abs((result.sigma or D(0)) - sigma) < D("1e-8")
    assert abs(line(result, 1)[0] - D(10_000) * sigma * D("2.326")) <= D("0.01")


def test_no_history_gives_no_historical_var_and_cash_has_no_risk() -> None:
    hist, param = portfolio_var({"ETH": D(1000)}, {"ETH": [(START, D(1000))]}, D("0.95"), [1])
    assert hist is None and param.sigma_fallback
    hist, param = portfolio_var({"USD": D(1000)}, {}, D("0.95"), [1, 7])
    assert hist is None
    assert line(param, 1) == (D("0.00"), D("0.00"))
    assert historical(np.zeros(0), 1.0, D("0.95"), [1]) is None


def test_confidence_and_horizons_come_from_the_spec_table() -> None:
    assert check_confidence("0.99") == D("0.99")
    assert check_confidence("0.950") == D("0.95")
    for bad in ("0.97", "1", "abc"):
        with pytest.raises(InvalidInput):
            check_confidence(bad)
    assert check_horizons([30, 1, 1]) == [1, 30]
    for bad in ([], [2], [1, 365]):
        with pytest.raises(InvalidInput):
            check_horizons(bad)
