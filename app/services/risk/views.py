"""Response bodies of the risk API: Decimal rendered as strings, rounded at output only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from app.domain.risk.margin import Position
from app.persistence.risk_models import RiskAccount, RiskMarginEvent, RiskPrice, RiskSnapshot
from app.services.risk.publish import text_of


def _quantity(position: Position, field: str, decimals: Mapping[str, int]) -> str:
    # format() with "f", not str(): str(Decimal) writes 0 at 18 places as "0E-18".
    value: Decimal = getattr(position, field)
    return format(value.quantize(Decimal(1).scaleb(-decimals.get(position.asset, 18))), "f")


def plain(value: Decimal) -> str:
    """A stored price without NUMERIC(38, 18)'s trailing zeros, never in exponent form."""
    return format(value.normalize(), "f")


def price_view(price: RiskPrice, now: datetime, max_age_seconds: int) -> dict[str, Any]:
    age = (now - price.price_time).total_seconds()
    # asset_symbol: the old name of asset, kept for one release.
    return {"asset": price.asset, "asset_symbol": price.asset,
            "price_usd": plain(price.price_usd),
            "timestamp": price.price_time.isoformat(), "source": price.source,
            "age_seconds": round(age, 3), "stale": age > max_age_seconds}


def account_view(account: RiskAccount, positions: Sequence[Position],
                 decimals: Mapping[str, int]) -> dict[str, Any]:
    return {
        "account_id": account.account_id,
        "status": account.status,
        "health_score": text_of(account.health_score) if account.status != "UNKNOWN" else None,
        "calculated_at": account.calculated_at.isoformat() if account.calculated_at else None,
        "positions": [{"asset": p.asset, "collateral": _quantity(p, "collateral", decimals),
                       "borrowed": _quantity(p, "borrowed", decimals),
                       "escrowed": _quantity(p, "escrowed", decimals)} for p in positions],
    }


def snapshot_view(snapshot: RiskSnapshot, now: datetime) -> dict[str, Any]:
    return {
        "account_id": snapshot.account_id,
        "status": snapshot.status,
        "health_score": text_of(snapshot.health_score),
        "total_collateral_usd": text_of(snapshot.total_collateral_usd),
        "total_borrow_usd": text_of(snapshot.total_borrow_usd),
        "liquidation_price_drop_percent": text_of(snapshot.liquidation_price_drop_percent),
        "initial_margin_usd": text_of(snapshot.initial_margin_usd),
        "maintenance_margin_usd": text_of(snapshot.maintenance_margin_usd),
        "unpriced_assets": list(snapshot.unpriced_assets),
        "cause": snapshot.cause,
        "batch_id": snapshot.batch_id,
        "calculated_at": snapshot.calculated_at.isoformat(),
        "age_seconds": round(max((now - snapshot.calculated_at).total_seconds(), 0.0), 3),
    }


def event_view(event: RiskMarginEvent) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "event_type": event.event_type,
        "account_id": event.account_id,
        "severity": event.severity,
        "status": event.status,
        "previous_status": event.previous_status,
        "health_score": text_of(event.health_score),
        "previous_health_score": text_of(event.previous_health_score),
        "total_collateral_usd": text_of(event.total_collateral_usd),
        "total_borrow_usd": text_of(event.total_borrow_usd),
        "liquidation_price_drop_percent": text_of(event.liquidation_price_drop_percent),
        "message": event.message,
        "occurred_at": event.occurred_at.isoformat(),
    }
