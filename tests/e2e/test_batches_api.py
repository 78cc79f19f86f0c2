"""The batches API end to end: a risk batch queued through the API runs on the worker and is
listed, shown and (another one) cancelled through /v1/batches; auth, scope and problems."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient

from tests.api import Api
from tests.support import Worker, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def admin(client: FlaskClient, api_keys: dict[str, str], worker: Worker) -> Api:
    return Api(client, api_keys["admin"])


@pytest.fixture
def risk(client: FlaskClient, api_keys: dict[str, str]) -> Api:
    return Api(client, api_keys["risk"])


def risk_batch(risk: Api) -> str:
    """A priced asset with (at least) two holders, recomputed as a batch through the risk
    API."""
    coin = "ETH"
    assert risk.post("/v1/risk/prices", {"asset_symbol": coin, "price_usd": "10",
                                         "timestamp": datetime.now(UTC).isoformat(),
                                         "source": "e2e"}).status_code == 201
    for _ in range(2):
        account = f"acct-{uuid.uuid4().hex[:8]}"
        response = risk.client.put(f"/v1/risk/accounts/{account}/positions",
                                   headers=risk.headers(),
                                   json={"positions": [{"asset": coin, "collateral": "1",
                                                        "borrowed": "0"}]})
        assert response.status_code == 200, response.get_json()
    return str(risk.accepted("/v1/risk/batches", {"scope": "asset", "asset": coin})["batch_id"])


def test_list_and_show_a_batch_until_it_completes(admin: Api, risk: Api) -> None:
    batch_id = risk_batch(risk)

    def completed() -> dict[str, object] | None:
        body = admin.get(f"/v1/batches/{batch_id}").get_json()
        return body if body["status"] == "completed" else None

    shown = wait_for(completed, timeout=60, what="batch completed")
    assert (shown["kind"], shown["failed"]) == ("risk_recompute", 0)
    assert shown["total"] == shown["done"] >= 2
    assert shown["detail"]["chunks"]["done"] == shown["detail"]["chunks"]["total"] >= 1
    listed = admin.get("/v1/batches?kind=risk_recompute&status=completed&limit=500")
    assert listed.status_code == 200
    assert batch_id in [b["id"] for b in listed.get_json()["batches"]]
    others = admin.get("/v1/batches?kind=reconciliation").get_json()["batches"]
    assert batch_id not in [b["id"] for b in others]
    assert admin.get(f"/v1/batches/risk_recompute:{batch_id}").get_json()["id"] == batch_id
    finished = admin.post(f"/v1/batches/{batch_id}/cancel", None)
    assert finished.status_code == 409
    assert finished.get_json()["code"] == "batch_finished"


def test_cancel_a_batch_through_the_api(admin: Api) -> None:
    from app.persistence.db import unit_of_work  # noqa: PLC0415
    from app.services import reconciliation  # noqa: PLC0415

    # Planned but never sent to the worker: it stays running until cancelled.
    with unit_of_work() as session:
        run_id = reconciliation.start_run(session, trigger="api", now=datetime.now(UTC)).run_id
    response = admin.post(f"/v1/batches/reconciliation:{run_id}/cancel", None)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["id"], body["kind"], body["status"]) == (run_id, "reconciliation", "cancelled")
    shown = admin.get(f"/v1/batches/{run_id}").get_json()
    assert {c["status"] for c in shown["detail"]["checks"]} == {"cancelled"}


def test_unknown_batch_is_a_404_problem(admin: Api) -> None:
    response = admin.get(f"/v1/batches/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["code"] == "batch_not_found"
    bad = admin.get("/v1/batches?status=exploded")
    assert bad.status_code == 422 and bad.get_json()["code"] == "invalid_status"


def test_batches_need_an_admin_key(client: FlaskClient, api_keys: dict[str, str]) -> None:
    assert client.get("/v1/batches").status_code == 401
    assert client.get(f"/v1/batches/{uuid.uuid4()}").status_code == 401
    assert client.post(f"/v1/batches/{uuid.uuid4()}/cancel").status_code == 401
    reader = Api(client, api_keys["risk_reader"])
    assert reader.get("/v1/batches").status_code == 403


def test_the_routes_are_in_the_openapi_document(client: FlaskClient) -> None:
    paths = client.get("/openapi.json").get_json()["paths"]
    assert {"get"} <= set(paths["/v1/batches"])
    assert {"get"} <= set(paths["/v1/batches/{batch_id}"])
    assert {"post"} <= set(paths["/v1/batches/{batch_id}/cancel"])
