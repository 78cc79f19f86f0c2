"""Inputs a fuzzer (schemathesis over /openapi.json) found to be 500s or wrongly accepted; each
is now a 422 problem. PostgreSQL text cannot hold a NUL character, so a NUL must be refused at the
edge of the API, wherever the text comes from."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient

from tests.api import Api, unique

pytestmark = pytest.mark.e2e

NUL = "\u0000"


def _assert_refused(response: Any, field: str | None = None) -> None:
    assert response.status_code == 422, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["code"] == "validation_failed"
    if field is not None:
        assert field in {e["field"] for e in problem["errors"]}, problem


@pytest.fixture
def compliance(client: FlaskClient, api_keys: dict[str, str]) -> Api:
    return Api(client, api_keys["compliance"])


@pytest.fixture
def admin(client: FlaskClient, api_keys: dict[str, str]) -> Api:
    return Api(client, api_keys["admin"])


BODIES: list[tuple[str, str, dict[str, Any], str]] = [
    ("screening name", "/v1/compliance/screenings",
     {"party": "p1", "names": [f"Ivan{NUL}Petrov"]}, "names"),
    ("screening party", "/v1/compliance/screenings", {"party": f"p{NUL}1", "names": ["x"]},
     "party"),
    ("deposit account", "/v1/ledger/deposits",
     {"account_id": f"acc{NUL}", "asset": "USD", "amount": "1.00"}, "account_id"),
    ("escrow payer", "/v1/escrows",
     {"payer": f"al{NUL}ice", "payee": "bob", "amount": "1.00", "asset": "USD",
      "release_delay_seconds": 0, "approvals_required": 1}, "payer"),
    ("kyc nested personal data", "/v1/compliance/kyc-cases",
     {"party": "p-nul", "document_type": "passport",
      "personal_data": {"full_name": f"A{NUL}B"}, "verification": {"photo_quality": "high"}},
     "personal_data.full_name"),
    ("replay attribute value", "/v1/admin/dead-letters/x/replay",
     {"attributes": {"k": f"v{NUL}"}}, "attributes"),
    ("webhook url", "/v1/webhooks",
     {"url": f"https://example.com/{NUL}", "event_types": ["margin_call"]}, "url"),
]


@pytest.mark.parametrize(("path", "body", "field"),
                         [pytest.param(p, b, f, id=i) for i, p, b, f in BODIES])
def test_a_nul_in_a_body_field_is_422(client: FlaskClient, api_keys: dict[str, str],
                                      path: str, body: dict[str, Any], field: str) -> None:
    key = api_keys["admin"]  # admin holds every scope: the body is what is under test
    response = client.post(path, json=body, headers={"Authorization": f"Bearer {key}"})
    _assert_refused(response, field)


def test_a_nul_in_a_path_parameter_is_422(compliance: Api) -> None:
    response = compliance.get(f"/v1/compliance/screenings/{quote(f'scr{NUL}1')}")
    _assert_refused(response, "path.screening_id")


def test_a_nul_in_a_query_parameter_is_422(compliance: Api) -> None:
    response = compliance.get(f"/v1/compliance/aml-alerts?party={quote(f'p{NUL}')}")
    _assert_refused(response, "query.party")


def test_a_nul_in_the_idempotency_key_is_422(api: Api) -> None:
    response = api.post("/v1/ledger/deposits",
                        {"account_id": unique("nul"), "asset": "USD", "amount": "1.00"},
                        idempotency_key=f"k{NUL}1")
    assert response.status_code in (400, 422), response.get_json()
    assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize("data", ["é", "aGVsbG8=\u00ff", "not base64!"])
def test_replay_with_invalid_base64_is_422(admin: Api, data: str) -> None:
    response = admin.post("/v1/admin/dead-letters/any-letter/replay", {"data_base64": data})
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.get_json()["code"] == "invalid_base64"


@pytest.mark.parametrize("start", [0, 79200, "22", "22:00:00.5", "24:00", "7:00", True])
def test_quiet_hours_must_be_hh_mm_strings(client: FlaskClient, api_keys: dict[str, str],
                                           start: Any) -> None:
    risk = Api(client, api_keys["risk"])
    response = client.put(
        f"/v1/accounts/{unique('quiet')}/notification-preferences",
        json={"channels": ["email"], "email": "a@example.com",
              "quiet_hours": {"start": start, "end": "07:00"}},
        headers=risk.headers())
    _assert_refused(response, "quiet_hours.start")


def test_quiet_hours_as_hh_mm_are_accepted(client: FlaskClient, api_keys: dict[str, str]) -> None:
    risk = Api(client, api_keys["risk"])
    response = client.put(
        f"/v1/accounts/{unique('quiet')}/notification-preferences",
        json={"channels": ["email"], "email": "a@example.com",
              "quiet_hours": {"start": "22:30", "end": "07:00"}},
        headers=risk.headers())
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["quiet_hours"] == {"start": "22:30", "end": "07:00"}
