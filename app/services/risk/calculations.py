"""VaR and stress calculations: accepted by the API, run by a worker, result stored as JSON."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.errors import InvalidInput, NotFound
from app.domain.risk.margin import (
    EXACT,
    NUMERAIRE,
    MarginHealth,
    Position,
    assess,
    is_stale,
    value,
)
from app.domain.risk.stress import SCENARIOS, check_scenarios, stress
from app.domain.risk.var import LOOKBACK_DAYS, Z_SCORES, check_confidence, check_horizons
from app.persistence import risk_store
from app.persistence.models import new_id
from app.persistence.risk_models import RiskCalculation
from app.services.risk import var
from app.services.risk.margin import get_account
from app.services.risk.positions import positions_of
from app.services.risk.prices import latest_prices
from app.services.risk.publish import text_of


def accept_calculation(session: Session, *, account_id: str | None,
                       positions: Sequence[Position] | None, confidence: str,
                       horizons: Sequence[int], scenarios: Sequence[str] | None) -> str:
    """Validate and store a calculation request; returns its id (queue risk.calculate)."""
    if (account_id is None) == (positions is None):
        raise InvalidInput("give either account_id or positions", code="account_or_positions",
                           field="account_id")
    if account_id is not None:
        account_id = get_account(session, account_id).account_id
    request = {
        "account_id": account_id,
        "positions": None if positions is None else [
            {"asset": p.asset, "collateral": str(p.collateral), "borrowed": str(p.borrowed)}
            for p in positions],
        "confidence": str(check_confidence(confidence)),
        "horizons": check_horizons(horizons),
        "scenarios": check_scenarios(list(SCENARIOS) if scenarios is None else scenarios),
    }
    calculation_id = new_id()
    session.add(RiskCalculation(calculation_id=calculation_id, account_id=account_id,
                                request=request, status="pending"))
    return calculation_id


def get_calculation(session: Session, calculation_id: str) -> RiskCalculation:
    found = session.get(RiskCalculation, calculation_id)
    if found is None:
        raise NotFound(f"calculation {calculation_id} not found", code="calculation_not_found")
    return found


def run_calculation(session: Session, calculation_id: str, *, now: datetime,
                    max_age: timedelta) -> str:
    """Compute once; a redelivered task finds the result stored and returns its status."""
    calc = session.get(RiskCalculation, calculation_id, with_for_update=True)
    if calc is None:
        raise NotFound(f"calculation {calculation_id} not found", code="calculation_not_found")
    if calc.status != "pending":
        return calc.status
    request = calc.request
    if request["account_id"] is not None:
        positions = positions_of(session, request["account_id"])
    else:
        positions = [Position(p["asset"], Decimal(p["collateral"]), Decimal(p["borrowed"]))
                     for p in request["positions"]]
    assets = sorted({p.asset for p in positions if not p.is_empty} - {NUMERAIRE})
    prices = latest_prices(session, assets)
    unpriced = [a for a in assets if is_stale(prices.get(a), now, max_age)]
    calc.completed_at = now
    if unpriced:
        calc.status, calc.error_code = "failed", "unpriced_assets"
        calc.error = f"no price younger than {max_age} for {', '.join(unpriced)}"
        return calc.status
    confidence = Decimal(request["confidence"])
    exposures: dict[str, Decimal] = defaultdict(Decimal)
    for p in positions:
        unit = Decimal(1) if p.asset == NUMERAIRE else prices[p.asset].price_usd
        held = EXACT.subtract(EXACT.add(p.collateral, p.escrowed), p.borrowed)
        exposures[p.asset] = EXACT.add(exposures[p.asset], EXACT.multiply(held, unit))
    closes = daily_closes(session, assets, now - timedelta(days=LOOKBACK_DAYS + 1))
    historical, parametric = var.portfolio_var(exposures, closes, confidence,
                                               request["horizons"])
    collateral, borrowed, _ = value(positions, prices, now, max_age)
    calc.result = {
        "calculation_id": calculation_id, "account_id": request["account_id"],
        "calculated_at": now.isoformat(), "confidence": request["confidence"],
        "z_score": str(Z_SCORES[confidence]),
        "portfolio_value_usd": text_of(sum((abs(v) for v in exposures.values()), Decimal(0))),
        "margin": _health(assess(collateral, borrowed)),
        "var": {"historical": _var(historical), "parametric": _var(parametric)},
        "stress": [{"scenario": s.scenario, "collateral_shock_percent": str(s.collateral_shock
                                                                             * 100),
                    **_health(s.health)}
                   for s in stress(collateral, borrowed, request["scenarios"])],
    }
    calc.status = "completed"
    return calc.status


def _health(health: MarginHealth) -> dict[str, Any]:
    return {"status": health.status.value, "health_score": text_of(health.health_score),
            "total_collateral_usd": text_of(health.total_collateral_usd),
            "total_borrow_usd": text_of(health.total_borrow_usd),
            "liquidation_price_drop_percent": text_of(health.liquidation_price_drop_percent),
            "initial_margin_usd": text_of(health.initial_margin_usd),
            "maintenance_margin_usd": text_of(health.maintenance_margin_usd)}


def _var(result: var.VarResult | None) -> dict[str, Any] | None:
    if result is None:
        return None
    return {"observations": result.observations,
            "sigma": None if result.sigma is None else str(result.sigma),
            "sigma_fallback": result.sigma_fallback,
            "horizons": {str(line.horizon_days): {"var_usd": str(line.var_usd),
                                                  "cvar_usd": str(line.cvar_usd)}
                         for line in result.lines}}


def fail_calculation(session: Session, calculation_id: str, *, now: datetime,
                     error: str) -> None:
    """A calculation that cannot succeed (a bug, bad data) ends `failed`, not pending forever."""
    calc = session.get(RiskCalculation, calculation_id, with_for_update=True)
    if calc is not None and calc.status == "pending":
        calc.status, calc.error_code, calc.error = "failed", "internal_error", error[:2000]
        calc.completed_at = now


def stray_calculations(session: Session, now: datetime, older_than: timedelta,
                       limit: int = 500) -> list[str]:
    """Calculations still pending long after acceptance: their task was lost; send again."""
    return list(session.scalars(
        select(RiskCalculation.calculation_id)
        .where(RiskCalculation.status == "pending",
               RiskCalculation.created_at < now - older_than)
        .order_by(RiskCalculation.created_at).limit(limit)))


def daily_closes(session: Session, assets: Sequence[str],
                 since: datetime) -> dict[str, list[tuple[date, Decimal]]]:
    closes: dict[str, list[tuple[date, Decimal]]] = defaultdict(list)
    if assets:
        for asset, day, price in risk_store.daily_close_rows(session, assets, since):
            closes[asset].append((day, price))
    return dict(closes)
