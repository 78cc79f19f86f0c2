"""/openapi.json is a valid OpenAPI document a client can be generated from, and every operation
says what it does, with examples; /docs serves Swagger UI from the package, not a CDN."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

pytestmark = pytest.mark.e2e

OPERATION_ID = re.compile(r"^[a-z][a-zA-Z0-9]+$")
METHODS = ("get", "post", "put", "delete", "patch")


@pytest.fixture(scope="module")
def spec(flask_app: Any) -> dict[str, Any]:
    response = flask_app.test_client().get("/openapi.json")
    assert response.status_code == 200
    return dict(response.get_json())


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, item in spec["paths"].items()
            for method, op in item.items() if method in METHODS]


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref", "")
    if ref:
        return dict(spec["components"]["schemas"][ref.rsplit("/", 1)[1]])
    return schema


def test_the_document_is_valid_openapi(spec: dict[str, Any]) -> None:
    from openapi_spec_validator import validate  # noqa: PLC0415 - a test dependency

    validate(spec)
    assert spec["openapi"].startswith("3.0")


def test_every_operation_has_a_summary_description_tag_and_camel_case_id(
        spec: dict[str, Any]) -> None:
    tags = [t["name"] for t in spec["tags"]]
    assert tags[0] == "Settlement"
    ids = []
    for method, path, op in _operations(spec):
        where = f"{method.upper()} {path}"
        assert op.get("summary"), where
        assert op.get("description") and op["description"] != op["summary"], where
        assert OPERATION_ID.match(op["operationId"]), (where, op["operationId"])
        assert op["tags"] and op["tags"][0] in tags, where
        ids.append(op["operationId"])
    assert len(ids) == len(set(ids)), "operationIds must be unique"
    assert {"createEscrow", "approveEscrow", "releaseEscrow", "refundEscrow", "createDeposit",
            "submitSettlementCommand", "openKycCase", "transitionKycCase", "submitScreening",
            "recordPrice", "replacePositions", "createWebhook"} <= set(ids)

def test_paths_come_in_tag_order_settlement_first(client: FlaskClient) -> None:
    paths = list(json.loads(client.get("/openapi.json").data)["paths"])
    assert paths[0].startswith("/v1/settlement/"), paths[:3]


def test_every_body_has_a_schema_and_an_example_and_errors_are_problems(
        spec: dict[str, Any]) -> None:
    for method, path, op in _operations(spec):
        where = f"{method.upper()} {path}"
        if "requestBody" in op:
            media = op["requestBody"]["content"]["application/json"]
            assert "$ref" in media["schema"], where
            assert media.get("examples"), where
        for status, response in op["responses"].items():
            if status.startswith("2"):
                media = response["content"]["application/json"]
                schema = _resolve(spec, media["schema"])
                assert schema.get("properties"), (where, status)
                assert media.get("examples") or schema.get("example"), (where, status)
            elif path.startswith("/v1/"):  # /readyz answers 503 with its own body
                assert list(response["content"]) == ["application/problem+json"], (where,
                                                                                     status)
        if path.startswith("/v1/"):
            assert {"401", "403", "422"} <= set(op["responses"]), where


def test_settlement_fields_are_explained_and_dvp_has_its_counter_leg(
        spec: dict[str, Any]) -> None:
    command = spec["components"]["schemas"]["SettlementCommand"]
    for field in ("workflow_id", "account_ref", "command_id", "counter_asset", "deadline"):
        assert len(command["properties"][field].get("description", "")) > 20, field
    examples = spec["paths"]["/v1/settlement/commands"]["post"]["requestBody"]["content"][
        "application/json"]["examples"]
    values = [e["value"] for e in examples.values()]
    assert {v["type"] for v in values} == {"DVP", "COLLATERAL_TRANSFER"}
    dvp = next(v for v in values if v["type"] == "DVP")
    assert dvp["counter_asset"] and dvp["counter_amount"]
    for name in ("CreateEscrow", "Deposit", "KycCaseIn", "ScreeningIn", "PriceIn",
                 "PositionsIn", "CreateWebhook", "TransitionIn"):
        properties = spec["components"]["schemas"][name]["properties"]
        assert all(p.get("description") for p in properties.values()), name
    price = spec["components"]["schemas"]["PriceIn"]["properties"]
    assert price["asset_symbol"]["deprecated"] is True


def test_a_python_client_generates_and_imports(spec: dict[str, Any], tmp_path: Path) -> None:
    document = tmp_path / "openapi.json"
    document.write_text(json.dumps(spec))
    config = tmp_path / "config.json"
    # No post-hooks: formatting the generated code is not what is under test, and offline.
    config.write_text(json.dumps({"post_hooks": [], "project_name_override": "fusion-client",
                                  "package_name_override": "fusion_client"}))
    generate = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(document),
         "--config", str(config), "--output-path", str(tmp_path / "fusion_client"),
         "--meta", "none"],
        capture_output=True, text=True, timeout=120, check=False)
    assert generate.returncode == 0, generate.stdout + generate.stderr
    assert "Warning" not in generate.stdout + generate.stderr, generate.stdout
    sys.path.insert(0, str(tmp_path))
    try:
        escrows = importlib.import_module("fusion_client.api.escrows.create_escrow")
        settlement = importlib.import_module(
            "fusion_client.api.settlement.submit_settlement_command")
        models = importlib.import_module("fusion_client.models")
    finally:
        sys.path.remove(str(tmp_path))
    assert callable(escrows.sync_detailed) and callable(settlement.sync)
    body = models.SettlementCommand.from_dict(
        spec["components"]["schemas"]["SettlementCommand"]["example"])
    assert body.to_dict()["counter_asset"] == "ETH"


def test_docs_serve_swagger_ui_from_the_package(client: FlaskClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "/v1/escrows" in html and 'url: "/openapi.json"' in html
    scripts = re.findall(r'src="([^"]+)"', html)
    assert scripts and all(s.startswith("/docs/") for s in scripts), "no CDN"
    for asset in scripts + re.findall(r'href="(/docs/[^"]+)"', html):
        response = client.get(asset)
        assert response.status_code == 200, asset
        assert len(response.data) > 500, asset
