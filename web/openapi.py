"""OpenAPI 3.0 generated from the route registry (web.endpoint.ROUTES) and the pydantic models.

A route added with the endpoint decorator appears here with no further work: its operationId,
tag, security, parameters, bodies, examples and problem responses are derived. OpenAPI 3.0
rather than 3.1 because the Swagger UI that /docs ships (swagger-ui-bundle) renders only 3.0."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, json
from pydantic import BaseModel

from web.endpoint import IDEMPOTENCY_KEY, MAX_IDEMPOTENCY_KEY, ROUTES, Query, RouteDoc
from web.openapi_schema import to_openapi30
from web.problems import PROBLEM_TYPE_BASE, title_of
from web.responses import Liveness, Readiness
from web.schemas import ProblemView

bp = Blueprint("openapi", __name__)
_PARAM = re.compile(r"\{(\w+)\}")

# Tags in the order the docs show them, each with the path prefixes it holds.
TAGS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("Settlement", ("/v1/settlement",),
     "DVP and collateral-transfer commands: submit one (command_id is its idempotency key), "
     "then follow its status received → validated → settling → settled | failed."),
    ("Escrows", ("/v1/escrows",),
     "Escrows funded by a hold on the payer's balance: create, approve, release, refund."),
    ("Ledger", ("/v1/ledger",), "Deposits from the asset's bank account, and balances."),
    ("Tasks", ("/v1/tasks",), "A Celery task's state from the result backend."),
    ("Risk", ("/v1/risk",),
     "Prices, positions, margin health and events, VaR/stress calculations, batches."),
    ("Compliance", ("/v1/compliance",),
     "KYC cases, AML checks and alerts, sanctions screenings and the settlement gate."),
    ("Alerts", ("/v1/webhooks", "/v1/deliveries", "/v1/accounts"),
     "Webhook subscriptions for margin alerts, their deliveries, and notification "
     "preferences."),
    ("Batches", ("/v1/batches",), "Every batch job's progress, and cancelling one."),
    ("Admin", ("/v1/admin",), "The dead-letter workflow."),
    ("Health", ("/healthz", "/readyz"), "Liveness and readiness, without authentication."),
)

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_ERRORS = {
    "400": ("Malformed JSON or an invalid Idempotency-Key", "malformed_json", 400),
    "401": ("No API key, or an unknown or revoked one", "invalid_api_key", 401),
    "403": ("The API key lacks this route's scope", "insufficient_scope", 403),
    "404": ("Not found", "not_found", 404),
    "409": ("Conflict: an illegal transition, or an Idempotency-Key reused with another body",
            "idempotency_key_reused", 409),
    "415": ("The body is not application/json", "unsupported_media_type", 415),
    "422": ("The request does not match the schema or the domain's rules",
            "validation_failed", 422),
    "503": ("The database or the broker is unavailable; retry after Retry-After",
            "service_unavailable", 503),
}


def tag_of(route: RouteDoc) -> str:
    for name, prefixes, _ in TAGS:
        if any(route.path == p or route.path.startswith(p + "/") for p in prefixes):
            return name
    return route.blueprint.replace("_", " ").title()


def _problem(status: str) -> dict[str, Any]:
    text, code, number = _ERRORS[status]
    example = {"type": PROBLEM_TYPE_BASE + code, "title": title_of(code), "status": number,
               "detail": text, "code": code}
    return {"description": text, "content": {"application/problem+json": {
        "schema": _PROBLEM_REF, "example": example}}}


def _schema_ref(model: type[BaseModel], components: dict[str, Any], mode: str) -> dict[str, str]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}",
                                     mode=mode)  # type: ignore[arg-type]
    for name, sub in schema.pop("$defs", {}).items():
        components.setdefault(name, sub)
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _media(model: type[BaseModel], components: dict[str, Any], mode: str,
           named: dict[str, Any] | None = None) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": _schema_ref(model, components, mode)}
    listed = components[model.__name__].get("examples") or []
    examples = named or {f"{model.__name__} {i + 1}" if i else model.__name__: value
                         for i, value in enumerate(listed)}
    if examples:
        media["examples"] = {_example_key(name): {"summary": name, "value": value}
                             for name, value in examples.items()}
    return media


def _example_key(name: str) -> str:
    return re.sub(r"\W+", "-", name).strip("-").lower()


def _parameters(route: RouteDoc) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"},
         "description": f"The {name.replace('_', ' ')}"} for name in _PARAM.findall(route.path)]
    parameters += [_query(q) for q in route.query]
    if route.method == "POST":
        parameters.append({
            "name": "Idempotency-Key", "in": "header", "required": False,
            "description": f"Any unique string (1-{MAX_IDEMPOTENCY_KEY} printable ASCII "
                           "characters, no spaces): a retry with the same key and body gets "
                           "the first answer again (Idempotent-Replayed: true); the same key "
                           "with another body is a 409.",
            "schema": {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY,
                       "pattern": f"^{IDEMPOTENCY_KEY.pattern}$"}})
    return parameters


def _query(q: Query) -> dict[str, Any]:
    return {"name": q.name, "in": "query", "required": False, "description": q.description,
            "schema": q.schema}


def _description(route: RouteDoc) -> str:
    parts = [route.description or route.summary]
    parts.append(f"Needs an API key with the scope `{route.scope}` (or `admin`).")
    if route.method == "POST":
        parts.append("Send `Idempotency-Key` to make a retry safe.")
    if route.status == 202:
        parts.append("Accepted (202): the work runs in a worker; follow `status_url`.")
    return "\n\n".join(parts)


def _operation(route: RouteDoc, components: dict[str, Any]) -> dict[str, Any]:
    errors = ["401", "403", "404", "422", "503"]
    if route.body is not None:
        errors.append("415")
    if route.body is not None or route.method == "POST":  # Idempotency-Key
        errors.append("400")
    if route.method in ("POST", "PUT", "DELETE"):
        errors.append("409")
    op: dict[str, Any] = {
        "tags": [tag_of(route)],
        "summary": route.summary,
        "description": _description(route),
        "operationId": route.operation_id,
        "security": [{"bearer": []}],
        "x-required-scope": route.scope,
        "parameters": _parameters(route),
        "responses": {status: _problem(status) for status in sorted(set(errors))},
    }
    if route.body is not None:
        op["requestBody"] = {"required": True, "content": {
            "application/json": _media(route.body, components, "validation", route.examples)}}
    ok: dict[str, Any] = {"description": "Accepted" if route.status == 202 else "OK"}
    if route.response is not None:
        ok["content"] = {"application/json": _media(route.response, components,
                                                    "serialization")}
    op["responses"][str(route.status)] = ok
    if route.status == 201:  # some creates answer 200 when the same id is sent again
        op["responses"].setdefault("200", {**ok, "description": "Already existed: the same"})
    return op


_HEALTH: dict[str, tuple[str, str, str, type[BaseModel]]] = {
    "/healthz": ("getLiveness", "Liveness",
                 "200 while the process serves requests; it checks nothing else.", Liveness),
    "/readyz": ("getReadiness", "Readiness: database and broker reachable",
                "200 when PostgreSQL and the broker answer; 503 names the one that is down.",
                Readiness),
}


def build_spec() -> dict[str, Any]:
    components: dict[str, Any] = {}
    paths: dict[str, dict[str, Any]] = {}
    order = {name: n for n, (name, _, _) in enumerate(TAGS)}
    for route in sorted(ROUTES, key=lambda r: order.get(tag_of(r), len(order))):
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, components)
    for path, (operation_id, summary, description, model) in _HEALTH.items():
        ok = {"application/json": _media(model, components, "serialization")}
        paths[path] = {"get": {
            "tags": ["Health"], "operationId": operation_id, "summary": summary,
            "description": description, "security": [],
            "responses": {"200": {"description": "OK", "content": ok},
                          "503": {"description": "Unavailable", "content": ok}}}}
    _schema_ref(ProblemView, components, "serialization")
    components["Problem"] = components.pop(ProblemView.__name__)
    spec = {
        "openapi": "3.0.3",
        "info": {"title": "Fusion Prime Workers API", "version": "1", "description": _INTRO},
        "tags": [{"name": name, "description": text} for name, _, text in TAGS],
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "An API key from `fusion-prime apikey create`"}}},
    }
    converted: dict[str, Any] = to_openapi30(spec)
    return converted


_INTRO = """The back office of a settlement platform: settlement commands (DVP and collateral
transfers), escrows, the ledger, risk, compliance and alerts.

Every `/v1` route needs `Authorization: Bearer <api key>` with the route's scope. Amounts are
decimal strings (`"1250.00"`), never JSON numbers. POSTs honour `Idempotency-Key`. Errors are
`application/problem+json` (RFC 9457) with a stable `code`. Work that runs in a worker answers
202 with a `status_url` to poll."""


@bp.get("/openapi.json")
def openapi_json() -> Response:
    # Not jsonify: it sorts keys, and the paths' order (settlement first) is part of the docs.
    return Response(json.dumps(build_spec(), sort_keys=False), mimetype="application/json")
