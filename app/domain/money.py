"""Decimal money: parsing at the edges, asset decimals, base-unit conversion. Never float."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)

from app.domain.errors import InvalidInput

# Plain positional decimals only: exponents ("1e999"), "NaN", "Infinity", signs and
# thousands separators are all refused, so what a client sends is what we store.
_PLAIN_DECIMAL = re.compile(r"^(?:0|[1-9]\d{0,19})(?:\.\d{1,18})?$", re.ASCII)
_BASE_UNITS = re.compile(r"^(?:0|[1-9]\d{0,77})$", re.ASCII)
MAX_INTEGER_DIGITS = 20  # NUMERIC(38, 18) holds 20 digits before the point
# The default context keeps 28 significant digits; an amount may have 38 (20 + 18), and base
# units up to 78. Money arithmetic runs in this context so nothing is silently rounded; the
# rounding mode (banker's) applies only where output is quantised.
MONEY_CONTEXT = Context(prec=100, rounding=ROUND_HALF_EVEN,
                        traps=[InvalidOperation, DivisionByZero, Overflow])


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    asset: str

    def __str__(self) -> str:
        return f"{self.amount} {self.asset}"


def check_asset(asset: str, decimals: Mapping[str, int], *, field: str = "asset") -> str:
    symbol = asset.strip().upper() if isinstance(asset, str) else ""
    if symbol not in decimals:
        known = ", ".join(sorted(decimals))
        raise InvalidInput(
            f"unknown asset {asset!r}; known assets: {known}", code="unknown_asset", field=field
        )
    return symbol


def parse_amount(
    raw: object,
    asset: str,
    decimals: Mapping[str, int],
    *,
    field: str = "amount",
) -> Money:
    """Parse a client amount: a positive plain decimal string within the asset's precision."""
    symbol = check_asset(asset, decimals)
    if isinstance(raw, bool) or not isinstance(raw, (str, int, Decimal)):
        raise InvalidInput(
            'amount must be a decimal string such as "1250.50"', code="invalid_amount",
            field=field,
        )
    text = str(raw).strip()
    if not _PLAIN_DECIMAL.match(text):
        raise InvalidInput(
            f"amount {text[:40]!r} is not a plain positive decimal (digits, optional point; "
            "no exponent, sign, NaN or Infinity; at most 20 integer digits)",
            code="invalid_amount",
            field=field,
        )
    try:
        value = Decimal(text)
    except InvalidOperation as exc:  # unreachable after the regex, kept as a belt
        raise InvalidInput(f"amount {text!r} is not a decimal", code="invalid_amount") from exc
    if value <= 0:
        raise InvalidInput("amount must be greater than zero", code="amount_not_positive",
                           field=field)
    places = -int(value.as_tuple().exponent)
    if places > decimals[symbol]:
        raise InvalidInput(
            f"{symbol} allows at most {decimals[symbol]} decimal places, got {places}",
            code="too_many_decimals",
            field=field,
        )
    return Money(value, symbol)


def from_base_units(raw: str | int, asset: str, decimals: Mapping[str, int]) -> Money:
    """Convert an on-chain integer amount (wei, satoshi...) into a Decimal of the asset."""
    symbol = check_asset(asset, decimals)
    text = str(raw).strip()
    if not _BASE_UNITS.match(text):
        raise InvalidInput(f"base-unit amount {text[:40]!r} is not a non-negative integer",
                           code="invalid_amount")
    with localcontext(MONEY_CONTEXT):
        return Money(Decimal(text).scaleb(-decimals[symbol]), symbol)


def plain(value: Decimal) -> str:
    """The wire form of an exact amount: positional digits, never an exponent ("1E-8")."""
    return format(value, "f")


def format_amount(value: Decimal, asset: str, decimals: Mapping[str, int]) -> str:
    """Render at the asset's precision. Amounts are exact, so this never rounds a stored value."""
    with localcontext(MONEY_CONTEXT):
        quantum = Decimal(1).scaleb(-decimals.get(asset, 18))
        return format(value.quantize(quantum), "f")
