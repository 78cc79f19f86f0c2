"""The HTTP contract: authentication, scopes, idempotency, problem details for bad input."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.api import Api, unique

pytestmark = pytest.mark.e2e

GOOD_ESCROW = {"payer": "alice", "payee": "bob", "amount": "10.00", "asset": "USD",
               "release_delay_seconds": 60, "approvals_required": 1}


def test_deposit_with_a_repeated_idempotency_key_has_one_effect(api: Api) -> None:
    account, key = unique("idem"), unique("key")
    body = {"account_id": account, "asset": "USD", "amount": "25.00"}
    first = api.post("/v1/ledger/deposits", body, idempotency_key=key)
    second = api.post("/v1/ledger/deposits", body, idempotency_key=key)
    assert first.status_code == second.status_code == 202
    assert first.get_json() == second.get_json()
    assert second.headers["Idempotent-Replayed"] == "true"
    api.settle(first.get_json())
    assert api.balance(account)["posted"] == "25.00"

    other = api.post("/v1/ledger/deposits", {**body, "amount": "26.00"}, idempotency_key=key)
    assert other.status_code == 409
    assert other.get_json()["code"] == "idempotency_key_reused"
    assert api.balance(account)["posted"] == "25.00"


def test_escrow_creation_with_a_repeated_key_creates_one_escrow(api: Api) -> None:
    payer, key = unique("idem-escrow"), unique("key")
    api.deposit(payer, "30.00")
    body = {**GOOD_ESCROW, "payer": payer, "amount": "20.00"}
    first = api.post("/v1/escrows", body, idempotency_key=key).get_json()
    second = api.post("/v1/escrows", body, idempotency_key=key).get_json()
    assert first["escrow_id"] == second["escrow_id"]
    api.settle(first)
    assert api.balance(payer)["available"] == "10.00"


def test_requests_without_or_with_a_bad_key_get_401(client: FlaskClient,
                                                    api_keys: dict[str, str]) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"},
                    {"Authorization": api_keys["writer"]},
                    {"Authorization": "Bearer " + api_keys["writer"][:-2] + "xx"}):
        response = client.get("/v1/ledger/accounts/alice", headers=headers)
        assert response.status_code == 401, headers
        assert response.mimetype == "application/problem+json"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_key_without_the_scope_gets_403(client: FlaskClient, api_keys: dict[str, str]) -> None:
    reader = Api(client, api_keys["reader"])
    response = reader.post("/v1/escrows", GOOD_ESCROW)
    assert response.status_code == 403
    assert response.get_json()["code"] == "insufficient_scope"
    assert reader.get("/v1/settlement/commands/unknown").status_code == 404
    admin = Api(client, api_keys["admin"])
    assert admin.get("/v1/settlement/commands/unknown").status_code == 404


BAD_ESCROWS: list[tuple[str, dict[str, Any], int, str]] = [
    ("nan", {"amount": "NaN"}, 422, "invalid_amount"),
    ("infinity", {"amount": "Infinity"}, 422, "invalid_amount"),
    ("huge exponent", {"amount": "1e999"}, 422, "invalid_amount"),
    ("float number", {"amount": 10.5}, 422, "validation_failed"),
    ("zero", {"amount": "0"}, 422, "amount_not_positive"),
    ("negative", {"amount": "-5.00"}, 422, "invalid_amount"),
    ("too precise", {"amount": "1.001"}, 422, "too_many_decimals"),
    ("unknown asset", {"asset": "DOGE"}, 422, "unknown_asset"),
    ("payer is payee", {"payee": "alice"}, 422, "payer_is_payee"),
    ("no approvals", {"approvals_required": 0}, 422, "validation_failed"),
    ("four approvals", {"approvals_required": 4}, 422, "validation_failed"),
    ("approvals as text", {"approvals_required": "2"}, 422, "validation_failed"),
    ("three without arbiter", {"approvals_required": 3}, 422, "arbiter_required"),
    ("zero-address arbiter is none", {"approvals_required": 3, "arbiter": "0x" + "0" * 40},
     422, "arbiter_required"),
    ("unknown field", {"colour": "blue"}, 422, "validation_failed"),
    ("negative delay", {"release_delay_seconds": -1}, 422, "validation_failed"),
    ("reserved account", {"payer": "external:bank:USD"}, 422, "invalid_account"),
    ("missing payee", {"payee": None}, 422, "validation_failed"),
]


@pytest.mark.parametrize(("change", "status", "code"),
                         [pytest.param(c, s, k, id=i) for i, c, s, k in BAD_ESCROWS])
def test_bad_escrow_input_is_a_problem_not_a_crash(api: Api, change: dict[str, Any],
                                                   status: int, code: str) -> None:
    body = {**GOOD_ESCROW, **change}
    if change.get("payee", "") is None:
        del body["payee"]
    response = api.post("/v1/escrows", body)
    assert response.status_code == status, response.get_json()
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["code"] == code
    assert problem["status"] == status
    if code == "validation_failed":
        assert problem["errors"] and all("field" in e for e in problem["errors"])


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'{"amount": NaN}', b""])
def test_malformed_bodies_are_4xx(api: Api, raw: bytes) -> None:
    response = api.client.post("/v1/escrows", data=raw, headers={
        **api.headers(), "Content-Type": "application/json"})
    assert 400 <= response.status_code < 500
    assert response.mimetype == "application/problem+json"


def test_wrong_content_type_is_415(api: Api) -> None:
    response = api.client.post("/v1/escrows", data="payer=alice", headers={
        **api.headers(), "Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 415


def test_actions_on_an_unknown_escrow_are_404(api: Api) -> None:
    response = api.post("/v1/escrows/does-not-exist/approvals", {"approver": "alice"})
    assert response.status_code == 404
    assert response.get_json()["code"] == "escrow_not_found"
    assert api.get("/v1/escrows/does-not-exist").status_code == 404


def test_settlement_command_input_checks(api: Api) -> None:
    base = {"command_id": unique("cmd"), "type": "DVP", "workflow_id": "wf",
            "account_ref": "acc", "payer": "a1", "payee": "b1", "asset": "USD",
            "amount": "1.00", "deadline": "2999-01-01T00:00:00Z"}
    no_counter = api.post("/v1/settlement/commands", base)
    assert (no_counter.status_code, no_counter.get_json()["code"]) == (422, "counter_leg_missing")
    naive = api.post("/v1/settlement/commands", {**base, "counter_asset": "ETH",
                                                 "counter_amount": "1", "deadline": "2999-01-01"})
    assert naive.status_code == 422
    bad_type = api.post("/v1/settlement/commands", {**base, "type": "SWAP"})
    assert bad_type.status_code == 422


def test_health_readiness_and_openapi(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["checks"] == {"database": "up", "broker": "up"}
    spec = client.get("/openapi.json").get_json()
    expected = {"/v1/escrows", "/v1/escrows/{escrow_id}", "/v1/escrows/{escrow_id}/approvals",
                "/v1/escrows/{escrow_id}/release", "/v1/escrows/{escrow_id}/refund",
                "/v1/settlement/commands", "/v1/settlement/commands/{command_id}",
                "/v1/ledger/deposits", "/v1/ledger/accounts/{account_id}",
                "/v1/tasks/{task_id}", "/healthz", "/readyz"}
    assert expected <= set(spec["paths"])
    create = spec["paths"]["/v1/escrows"]["post"]
    schema_name = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert schema_name.endswith("/CreateEscrow")
    assert "amount" in spec["components"]["schemas"]["CreateEscrow"]["properties"]
    assert b"/v1/escrows" in client.get("/docs").data


def test_task_status_reads_the_result_backend(api: Api) -> None:
    accepted = api.accepted("/v1/ledger/deposits",
                            {"account_id": unique("task"), "asset": "USD", "amount": "1.00"})
    api.settle(accepted)
    from tests.support import wait_for  # noqa: PLC0415

    view = wait_for(lambda: (v := api.get(f"/v1/tasks/{accepted['task_id']}").get_json())
                    ["state"] == "SUCCESS" and v, what="task result")
    assert view["result"]["status"] == "settled"


def test_problem_titles_are_properly_cased(api: Api, client: FlaskClient) -> None:
    malformed = api.client.post("/v1/escrows", data=b"{not json", headers={
        **api.headers(), "Content-Type": "application/json"})
    assert malformed.get_json()["title"] == "Malformed JSON"
    unknown = client.get("/v1/ledger/accounts/alice", headers={"Authorization": "Bearer nope"})
    assert unknown.get_json()["title"] == "Invalid API key"
    scope = Api(client, api.key).get("/v1/admin/dead-letters")
    assert scope.get_json()["title"] == "Insufficient scope"
