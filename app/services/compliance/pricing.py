"""The one seam between compliance and prices: what an amount is worth in USD right now.

Reads the latest price the risk area keeps (`risk_prices`) when that table exists; USD and the
USD stablecoins count 1:1; anything else without a price is `unpriced`, and the rules that need
a USD value then do not fire (the result says so) instead of guessing.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from app.persistence import risk_store

USD_AT_PAR = frozenset({"USD", "USDC", "USDT"})


@dataclass(frozen=True, slots=True)
class Valuation:
    usd: Decimal | None
    source: str  # par | latest_price | unpriced
    price_usd: Decimal | None = None
    price_time: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"usd": str(self.usd) if self.usd is not None else None, "source": self.source,
                "price_usd": str(self.price_usd) if self.price_usd is not None else None,
                "price_time": self.price_time}


def latest_price(session: Session, asset: str) -> tuple[Decimal, str] | None:
    """(price in USD, its time) from the risk area's latest prices, if it has one."""
    found = risk_store.latest_price(session, asset)
    return (found[0], found[1].isoformat()) if found is not None else None


def usd_value(session: Session, asset: str, amount: Decimal) -> Valuation:
    symbol = asset.upper()
    if symbol in USD_AT_PAR:
        return Valuation(amount, "par", Decimal(1))
    found = latest_price(session, symbol)
    if found is None:
        return Valuation(None, "unpriced")
    price, at = found
    return Valuation(amount * price, "latest_price", price, at)
