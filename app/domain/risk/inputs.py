"""Parsing risk inputs at the edge: quantities (zero allowed), prices, position lists."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from app.domain.errors import InvalidInput
from app.domain.money import check_asset, parse_amount
from app.domain.risk.margin import ZERO, Position

# Prices are USD per unit, at up to 18 decimals (a token can be worth a fraction of a cent).
PRICE_DECIMALS = {"USD": 18}
_ZERO = re.compile(r"^0(?:\.0{1,18})?$")
_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9._-]{0,15}$")
MAX_POSITIONS = 100
# A tick stamped further ahead than this is a producer's clock error: it would pin the
# latest price until the wall clock catches up.
MAX_CLOCK_SKEW = timedelta(minutes=5)


def parse_quantity(raw: object, asset: str, decimals: Mapping[str, int], field: str) -> Decimal:
    """A non-negative plain decimal within the asset's precision ("0" clears a position)."""
    if isinstance(raw, str) and _ZERO.match(raw.strip()):
        return ZERO
    return parse_amount(raw, asset, decimals, field=field).amount


def parse_price(raw: object) -> Decimal:
    return parse_amount(raw, "USD", PRICE_DECIMALS, field="price_usd").amount


def check_symbol(raw: str) -> str:
    symbol = raw.strip().upper()
    if not _SYMBOL.match(symbol):
        raise InvalidInput(f"asset symbol {raw[:20]!r} is not a ticker (A-Z, 0-9, 1-16 chars)",
                           code="invalid_asset_symbol", field="asset_symbol")
    return symbol


def check_timestamp(timestamp: datetime, now: datetime) -> datetime:
    if timestamp.tzinfo is None:
        raise InvalidInput("timestamp needs a timezone (RFC 3339)", code="naive_timestamp",
                           field="timestamp")
    if timestamp - now > MAX_CLOCK_SKEW:
        raise InvalidInput(f"timestamp {timestamp.isoformat()} is in the future",
                           code="timestamp_in_future", field="timestamp")
    return timestamp


@dataclass(frozen=True, slots=True)
class PositionInput:
    asset: str
    collateral: str = "0"
    borrowed: str = "0"


def parse_positions(items: Iterable[PositionInput],
                    decimals: Mapping[str, int]) -> list[Position]:
    """Validate a full position list: known assets, each at most once, quantities >= 0."""
    parsed: dict[str, Position] = {}
    for index, item in enumerate(items):
        where = f"positions.{index}"
        asset = check_asset(item.asset, decimals, field=f"{where}.asset")
        if asset in parsed:
            raise InvalidInput(f"asset {asset} is listed twice", code="duplicate_asset",
                               field=f"{where}.asset")
        parsed[asset] = Position(
            asset,
            collateral=parse_quantity(item.collateral, asset, decimals, f"{where}.collateral"),
            borrowed=parse_quantity(item.borrowed, asset, decimals, f"{where}.borrowed"))
    if len(parsed) > MAX_POSITIONS:
        raise InvalidInput(f"at most {MAX_POSITIONS} positions", code="too_many_positions",
                           field="positions")
    return list(parsed.values())
