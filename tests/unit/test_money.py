"""Decimal money at the edges (DOMAIN.md §0): parsing, base units, rendering. Never float."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.config import DEFAULT_ASSET_DECIMALS
from app.domain.errors import InvalidInput
from app.domain.money import Money, check_asset, format_amount, from_base_units, parse_amount

D = DEFAULT_ASSET_DECIMALS
TWENTY_DIGITS = "98765432109876543210"


@pytest.mark.parametrize(("raw", "asset", "expected"), [
    ("1", "USD", Decimal("1")),
    ("0.01", "USD", Decimal("0.01")),
    ("1250.50", "USD", Decimal("1250.50")),
    (TWENTY_DIGITS, "USD", Decimal(TWENTY_DIGITS)),
    (TWENTY_DIGITS + ".99", "USD", Decimal(TWENTY_DIGITS + ".99")),
    ("0.000000000000000001", "ETH", Decimal("1E-18")),
    ("1.123456789012345678", "ETH", Decimal("1.123456789012345678")),
    ("0.00000001", "BTC", Decimal("0.00000001")),
    (" 12.5 ", "USD", Decimal("12.5")),
    (7, "USD", Decimal("7")),
    (Decimal("2.50"), "USD", Decimal("2.50")),
])
def test_parse_amount_accepts(raw: object, asset: str, expected: Decimal) -> None:
    money = parse_amount(raw, asset, D)
    assert money == Money(expected, asset)
    assert isinstance(money.amount, Decimal)
    assert str(money.amount) == str(expected)  # the exact digits, trailing zeros included


@pytest.mark.parametrize(("raw", "code"), [
    ("NaN", "invalid_amount"),
    ("nan", "invalid_amount"),
    ("sNaN", "invalid_amount"),
    ("Infinity", "invalid_amount"),
    ("-Infinity", "invalid_amount"),
    ("inf", "invalid_amount"),
    ("1e999", "invalid_amount"),
    ("1E2", "invalid_amount"),
    ("-5", "invalid_amount"),
    ("+5", "invalid_amount"),
    ("-0.01", "invalid_amount"),
    ("0", "amount_not_positive"),
    ("0.00", "amount_not_positive"),
    (0, "amount_not_positive"),
    (" ", "invalid_amount"),
    ("", "invalid_amount"),
    ("1,000", "invalid_amount"),
    ("1_000", "invalid_amount"),
    ("1 000", "invalid_amount"),
    ("1.", "invalid_amount"),
    (".5", "invalid_amount"),
    ("0x10", "invalid_amount"),
    ("01", "invalid_amount"),
    ("1.2.3", "invalid_amount"),
    ("1" * 21, "invalid_amount"),  # 21 integer digits do not fit NUMERIC(38, 18)
    (1.5, "invalid_amount"),
    (True, "invalid_amount"),
    (False, "invalid_amount"),
    (None, "invalid_amount"),
    ([1], "invalid_amount"),
    (Decimal("NaN"), "invalid_amount"),
    (Decimal("Infinity"), "invalid_amount"),
    (Decimal("-1"), "invalid_amount"),
    (-1, "invalid_amount"),
    ("1.005", "too_many_decimals"),
    ("1.000", "too_many_decimals"),  # precision is counted on what the client wrote
])
def test_parse_amount_refuses(raw: object, code: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_amount(raw, "USD", D)
    assert info.value.code == code
    assert info.value.field == "amount"


def test_parse_amount_reports_the_field_it_was_given() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_amount("x", "USD", D, field="counter_amount")
    assert info.value.field == "counter_amount"


@pytest.mark.parametrize(("raw", "asset", "code"), [
    ("0.0000001", "USDC", "too_many_decimals"),
    ("0.000000001", "BTC", "too_many_decimals"),
    ("0.000000000000000001", "BTC", "too_many_decimals"),
    # More than the 18 decimals NUMERIC(38, 18) stores is not a plain amount at all.
    ("0.0000000000000000001", "ETH", "invalid_amount"),
])
def test_too_many_decimals_per_asset(raw: str, asset: str, code: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_amount(raw, asset, D)
    assert info.value.code == code


@pytest.mark.parametrize("asset", ["XYZ", "", "US D", None, 5])
def test_unknown_asset(asset: object) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_amount("1", asset, D)  # type: ignore[arg-type]
    assert info.value.code == "unknown_asset"
    assert info.value.field == "asset"


def test_unknown_asset_is_checked_before_the_amount() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_amount("NaN", "XYZ", D)
    assert info.value.code == "unknown_asset"


@pytest.mark.parametrize(("asset", "symbol"), [("usd", "USD"), (" eth ", "ETH"), ("Btc", "BTC")])
def test_asset_symbols_are_normalised(asset: str, symbol: str) -> None:
    assert parse_amount("1", asset, D).asset == symbol
    assert check_asset(asset, D) == symbol


def test_money_renders_with_its_asset() -> None:
    assert str(Money(Decimal("1.50"), "USD")) == "1.50 USD"


# ---- base units ---------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "asset", "expected"), [
    ("1000000000000000000", "ETH", Decimal("1")),
    ("150000000", "BTC", Decimal("1.5")),
    (150000000, "BTC", Decimal("1.5")),
    ("1", "ETH", Decimal("0.000000000000000001")),
    ("0", "ETH", Decimal("0")),
    ("1234567", "USDC", Decimal("1.234567")),
    ("123456789012345678901234567", "ETH", Decimal("123456789.012345678901234567")),
    ("5", "usdt", Decimal("0.000005")),
])
def test_from_base_units(raw: str | int, asset: str, expected: Decimal) -> None:
    money = from_base_units(raw, asset, D)
    assert money.amount == expected
    assert money.asset == asset.upper()


@pytest.mark.parametrize("raw", ["-1", "1.5", "abc", "", "1e18", "0x10", "01", "NaN", "1" * 79])
def test_from_base_units_refuses(raw: str) -> None:
    with pytest.raises(InvalidInput) as info:
        from_base_units(raw, "ETH", D)
    assert info.value.code == "invalid_amount"



def test_from_base_units_is_exact_beyond_28_digits() -> None:
    wei = "123456789012345678901234567890"  # 30 digits: 123456789012.345678901234567890 ETH
    assert from_base_units(wei, "ETH", D).amount == Decimal("123456789012.345678901234567890")



@pytest.mark.parametrize("raw", ["1\u0662", "0.\u0665", "1\uff10"])
def test_only_ascii_digits_are_amounts(raw: str) -> None:
    # Arabic-Indic and full-width digits pass the regex and Decimal() reads them as 12, 0.5, 10.
    with pytest.raises(InvalidInput):
        parse_amount(raw, "USD", D)


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=0, max_value=10**27 - 1),
       st.sampled_from(["ETH", "BTC", "USDC", "USD"]))
def test_base_units_convert_exactly(units: int, asset: str) -> None:
    amount = from_base_units(str(units), asset, D).amount
    assert amount.scaleb(D[asset]) == units


# ---- rendering ----------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "asset", "text"), [
    (Decimal("1.5"), "USD", "1.50"),
    (Decimal("1250"), "USD", "1250.00"),
    (Decimal("1.5"), "BTC", "1.50000000"),
    (Decimal("2"), "USDC", "2.000000"),
    (Decimal("1"), "ETH", "1.000000000000000000"),
    (Decimal("0.1"), "ETH", "0.100000000000000000"),
])
def test_format_amount(value: Decimal, asset: str, text: str) -> None:
    assert format_amount(value, asset, D) == text



@pytest.mark.parametrize(("value", "asset", "text"), [
    (Decimal("0.000000000000000001"), "ETH", "0.000000000000000001"),
    (Decimal("0.00000012"), "BTC", "0.00000012"),
    (Decimal("0"), "ETH", "0.000000000000000000"),
])
def test_format_amount_never_uses_an_exponent(value: Decimal, asset: str, text: str) -> None:
    assert format_amount(value, asset, D) == text



def test_format_amount_renders_every_amount_parse_accepts() -> None:
    money = parse_amount("10000000000", "ETH", D)  # 11 integer digits + 18 decimals
    assert format_amount(money.amount, "ETH", D) == "10000000000.000000000000000000"


@settings(max_examples=300, deadline=None)
@given(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999999999999999999.99"),
                   places=2, allow_nan=False, allow_infinity=False))
def test_usd_amounts_round_trip(value: Decimal) -> None:
    money = parse_amount(str(value), "USD", D)
    assert money.amount == value
    assert str(money.amount) == str(value)
    assert Decimal(format_amount(money.amount, "USD", D)) == value


def test_plain_never_uses_an_exponent() -> None:
    from app.domain.money import plain  # noqa: PLC0415

    assert plain(Decimal("0.00000001")) == "0.00000001"
    assert plain(Decimal("1E+3")) == "1000"
