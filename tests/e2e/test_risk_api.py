"""The risk API end to end: prices, positions, margin health and events driven by price moves,
VaR/stress calculations, batches; scopes and validation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.api import Api, unique
from tests.support import Worker, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def risk(client: FlaskClient, api_keys: dict[str, str], worker: Worker) -> Api:
    return Api(client, api_keys["risk"])


def now() -> str:
    return datetime.now(UTC).isoformat()


def post_price(api: Api, asset: str, value: str, at: str | None = None) -> Any:
    return api.post("/v1/risk/prices", {"asset": asset, "price_usd": value,
                                        "timestamp": at or now(), "source": "e2e"})


def test_a_price_takes_asset_and_still_its_deprecated_name(risk: Api) -> None:
    asset, at = "D" + uuid.uuid4().hex[:6].upper(), now()
    new = post_price(risk, asset, "10.50", at)
    assert new.status_code == 201, new.get_json()
    assert new.get_json()["asset"] == new.get_json()["asset_symbol"] == asset
    old = risk.post("/v1/risk/prices", {"asset_symbol": asset, "price_usd": "10.50",
                                        "timestamp": at})
    assert (old.status_code, old.get_json()["outcome"]) == (200, "duplicate")
    assert risk.get(f"/v1/risk/prices/{asset}").get_json()["asset"] == asset
    for body in ({"price_usd": "1", "timestamp": at},
                 {"asset": asset, "asset_symbol": "OTHER", "price_usd": "1", "timestamp": at}):
        refused = risk.post("/v1/risk/prices", body)
        assert (refused.status_code, refused.get_json()["code"]) == (422, "validation_failed")


def put_positions(api: Api, account: str, positions: list[dict[str, str]]) -> Any:
    return api.client.put(f"/v1/risk/accounts/{account}/positions",
                          json={"positions": positions}, headers=api.headers())


def health_when(api: Api, account: str, collateral: str, timeout: float = 60) -> dict[str, Any]:
    """The latest margin health once it values the collateral at `collateral` USD."""
    def ready() -> dict[str, Any] | None:
        response = api.get(f"/v1/risk/accounts/{account}/margin-health")
        body = response.get_json()
        ok = response.status_code == 200 and body["total_collateral_usd"] == collateral
        return body if ok else None

    return wait_for(ready, timeout=timeout, what=f"{account} valued at {collateral}")


def test_prices_are_recorded_once_and_validated(risk: Api, client: FlaskClient,
                                                api_keys: dict[str, str]) -> None:
    asset, at = "E" + uuid.uuid4().hex[:6].upper(), now()
    first = post_price(risk, asset, "123.45", at)
    assert first.status_code == 201 and first.get_json()["outcome"] == "latest"
    again = post_price(risk, asset, "123.45", at)
    assert again.status_code == 200 and again.get_json()["outcome"] == "duplicate"
    conflict = post_price(risk, asset, "124", at)
    assert conflict.status_code == 409 and conflict.get_json()["code"] == "price_conflict"
    latest = risk.get(f"/v1/risk/prices/{asset}").get_json()
    assert (latest["price_usd"], latest["stale"]) == ("123.45", False)
    for bad in ("1e5", "NaN", "-3", "0"):
        assert post_price(risk, asset, bad).status_code == 422, bad
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    refused = post_price(risk, asset, "1", future)
    assert refused.status_code == 422 and refused.get_json()["code"] == "timestamp_in_future"
    assert post_price(risk, asset, "1", "2026-01-01T00:00:00").status_code == 422  # naive
    reader = Api(client, api_keys["risk_reader"])
    assert post_price(reader, asset, "1").status_code == 403
    assert reader.get(f"/v1/risk/prices/{asset}").status_code == 200


def test_positions_margin_health_and_a_requested_recalculation(risk: Api) -> None:
    account = unique("e2e-risk")
    assert post_price(risk, "ETH", "4000").status_code == 201
    assert post_price(risk, "USDC", "1").status_code == 201
    put = put_positions(risk, account, [{"asset": "ETH", "collateral": "5"},
                                        {"asset": "usdc", "borrowed": "15000"}])
    assert put.status_code == 200, put.get_json()
    assert put.get_json()["positions"] == [
        {"asset": "ETH", "collateral": "5.000000000000000000",
         "borrowed": "0.000000000000000000", "escrowed": "0.000000000000000000"},
        {"asset": "USDC", "collateral": "0.000000", "borrowed": "15000.000000",
         "escrowed": "0.000000"}]
    health = health_when(risk, account, "20000.00")
    assert (health["status"], health["health_score"]) == ("WARNING", "33.33")
    assert health["liquidation_price_drop_percent"] == "13.75"
    assert (health["initial_margin_usd"], health["maintenance_margin_usd"]) == (
        "4000.00", "3000.00")
    assert health["age_seconds"] >= 0
    queued = risk.post(f"/v1/risk/accounts/{account}/margin-health", None)
    assert queued.status_code == 202
    wait_for(lambda: risk.get(f"/v1/risk/accounts/{account}/margin-health").get_json()[
        "calculated_at"] != health["calculated_at"], what="a newer snapshot")
    events = risk.get(f"/v1/risk/accounts/{account}/margin-events").get_json()["events"]
    assert [e["event_type"] for e in events] == ["margin_warning"]
    assert events[0]["severity"] == "medium" and events[0]["health_score"] == "33.33"
    view = risk.get(f"/v1/risk/accounts/{account}").get_json()
    assert view["status"] == "WARNING" and len(view["positions"]) == 2
    assert risk.get("/v1/risk/accounts/nobody-here").status_code == 404
    bad = put_positions(risk, account, [{"asset": "USDC", "borrowed": "1.1234567"}])
    assert bad.status_code == 422 and bad.get_json()["code"] == "too_many_decimals"


def test_price_moves_give_warning_call_and_recovered_through_the_api(risk: Api) -> None:
    account = unique("e2e-moves")
    assert post_price(risk, "GBP", "200").status_code == 201
    assert put_positions(risk, account, [{"asset": "GBP", "collateral": "10"},
                                         {"asset": "USD", "borrowed": "1000"}]).status_code == 200
    assert health_when(risk, account, "2000.00")["status"] == "HEALTHY"
    statuses = []
    for value, collateral in (("140", "1400.00"), ("120", "1200.00"), ("160", "1600.00")):
        assert post_price(risk, "GBP", value).status_code == 201
        statuses.append(health_when(risk, account, collateral)["status"])
    assert statuses == ["WARNING", "MARGIN_CALL", "HEALTHY"]
    events = risk.get(f"/v1/risk/accounts/{account}/margin-events").get_json()["events"]
    assert [e["event_type"] for e in reversed(events)] == [
        "margin_warning", "margin_call", "margin_recovered"]


def wait_calculation(api: Api, calculation_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        body = api.get(f"/v1/risk/calculations/{calculation_id}").get_json()
        return body if body["status"] != "pending" else None

    return wait_for(done, timeout=60, what=f"calculation {calculation_id}")


def test_var_and_stress_calculation_of_positions_with_history(risk: Api) -> None:
    today = datetime.now(UTC)
    closes = ["50000", "55000", "49500", "51975", "46777.5", "51455.25"]  # +10, -10, +5, -10, +10 %
    for days_ago, close in zip(range(len(closes) - 1, -1, -1), closes, strict=True):
        at = (today - timedelta(days=days_ago, seconds=30)).isoformat()
        assert post_price(risk, "BTC", close, at).status_code in (200, 201)
    body = {"positions": [{"asset": "BTC", "collateral": "2"},
                          {"asset": "USD", "borrowed": "60000"}],
            "confidence": "0.95", "horizons": [1, 7], "scenarios": ["crash"]}
    key = unique("calc")
    accepted = risk.post("/v1/risk/calculations", body, idempotency_key=key)
    assert accepted.status_code == 202
    replay = risk.post("/v1/risk/calculations", body, idempotency_key=key)
    assert replay.get_json()["calculation_id"] == accepted.get_json()["calculation_id"]
    calc = wait_calculation(risk, accepted.get_json()["calculation_id"])
    assert calc["status"] == "completed", calc
    result = calc["result"]
    # Exposures: BTC +102,910.50, USD -60,000 -> gross 162,910.50.
    assert result["portfolio_value_usd"] == "162910.50"
    historical = result["var"]["historical"]
    assert historical["observations"] == 5
    # The worst day (-10 % of the BTC exposure) is the 0.95 quantile of five returns.
    assert historical["horizons"]["1"]["var_usd"] == "10291.05"
    parametric = result["var"]["parametric"]
    assert parametric["sigma_fallback"] is True  # fewer than 30 returns: sigma = 0.02
    assert parametric["horizons"]["1"]["var_usd"] == "5359.76"  # 162,910.50 * 0.02 * 1.645
    assert result["margin"]["status"] == "HEALTHY"  # 102,910.50 vs 60,000: 71.52
    crash = result["stress"][0]
    assert (crash["scenario"], crash["total_collateral_usd"]) == ("crash", "82328.40")
    assert (crash["health_score"], crash["status"]) == ("37.21", "WARNING")


def test_calculation_requests_are_validated(risk: Api) -> None:
    both = risk.post("/v1/risk/calculations", {"account_id": "x", "positions": []})
    assert both.status_code == 422 and both.get_json()["code"] == "account_or_positions"
    wrong = risk.post("/v1/risk/calculations", {"positions": [], "confidence": "0.97"})
    assert wrong.get_json()["code"] == "unsupported_confidence"
    horizon = risk.post("/v1/risk/calculations", {"positions": [], "horizons": [2]})
    assert horizon.get_json()["code"] == "unsupported_horizon"
    missing = risk.post("/v1/risk/calculations", {"account_id": unique("ghost")})
    assert missing.status_code == 404
    unpriced = risk.accepted("/v1/risk/calculations",
                             {"positions": [{"asset": "EUR", "collateral": "1"}]})
    failed = wait_calculation(risk, unpriced["calculation_id"])
    assert (failed["status"], failed["error_code"]) == ("failed", "unpriced_assets")


def test_a_batch_through_the_api(risk: Api, client: FlaskClient,
                                 api_keys: dict[str, str]) -> None:
    accepted = risk.accepted("/v1/risk/batches", {"scope": "asset", "asset": "GBP"})
    progress = wait_for(
        lambda: (b := risk.get(accepted["status_url"]).get_json())["status"] != "running" and b,
        timeout=60, what="batch done")
    assert progress["status"] == "completed"
    assert progress["total"] == accepted["total"] == progress["done"] >= 1
    assert set(progress) >= {"total", "done", "failed", "rate_per_second", "eta_seconds"}
    refused = risk.post("/v1/risk/batches", {"scope": "asset"})
    assert refused.status_code == 422 and refused.get_json()["code"] == "invalid_scope"
    reader = Api(client, api_keys["risk_reader"])
    assert reader.post("/v1/risk/batches", {"scope": "all"}).status_code == 403
    assert reader.get(accepted["status_url"]).status_code == 200
