"""OpenAPI 3.1 generated from the route registry and the pydantic models, and a docs page."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, jsonify

from web.endpoint import ROUTES

bp = Blueprint("openapi", __name__)
_PARAM = re.compile(r"\{(\w+)\}")


def _schema_ref(model: type[Any], components: dict[str, Any]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(schema.pop("$defs", {}))
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def build_spec() -> dict[str, Any]:
    components: dict[str, Any] = {}
    paths: dict[str, dict[str, Any]] = {}
    problem = {"description": "A problem (RFC 9457)",
               "content": {"application/problem+json": {"schema": {"type": "object"}}}}
    for route in ROUTES:
        op: dict[str, Any] = {
            "summary": route.summary,
            "operationId": route.operation_id or f"{route.method.lower()}_{route.path}",
            "security": [{"bearer": [route.scope]}] if route.scope else [],
            "parameters": [{"name": n, "in": "path", "required": True,
                            "schema": {"type": "string"}} for n in _PARAM.findall(route.path)],
            "responses": {"401": problem, "403": problem, "404": problem, "422": problem},
        }
        if route.method == "POST":
            op["parameters"].append({"name": "Idempotency-Key", "in": "header",
                                     "required": False, "schema": {"type": "string"}})
            op["responses"]["409"] = problem
        if route.body is not None:
            op["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": _schema_ref(route.body, components)}}}
        ok: dict[str, Any] = {"description": "OK"}
        if route.response is not None:
            ok["content"] = {"application/json": {
                "schema": _schema_ref(route.response, components)}}
        op["responses"][str(route.status)] = ok
        paths.setdefault(route.path, {})[route.method.lower()] = op
    for path in ("/healthz", "/readyz"):
        paths[path] = {"get": {"summary": "Liveness" if path == "/healthz" else
                               "Readiness: database and broker reachable",
                               "responses": {"200": {"description": "OK"},
                                             "503": {"description": "Unavailable"}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Fusion Prime Workers API", "version": "1"},
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"}}},
    }


@bp.get("/openapi.json")
def openapi_json() -> Response:
    return jsonify(build_spec())


_DOCS = """<!doctype html>
<html><head><meta charset="utf-8"><title>Fusion Prime Workers API</title>
<style>body{font-family:sans-serif;margin:2em;max-width:70em}td,th{padding:.3em .8em;
text-align:left;border-bottom:1px solid #ddd}code{background:#f4f4f4}</style></head>
<body><h1>Fusion Prime Workers API</h1>
<p>Machine-readable: <a href="/openapi.json">/openapi.json</a>. Every <code>/v1</code> route
needs <code>Authorization: Bearer &lt;key&gt;</code>; POSTs honour <code>Idempotency-Key</code>.
Errors are <code>application/problem+json</code>.</p>
<table><tr><th>Method</th><th>Path</th><th>Scope</th><th>Summary</th></tr>{rows}</table>
</body></html>"""


@bp.get("/docs")
def docs() -> Response:
    rows = "".join(
        f"<tr><td>{r.method}</td><td><code>{r.path}</code></td><td>{r.scope or ''}</td>"
        f"<td>{r.summary}</td></tr>" for r in ROUTES)
    return Response(_DOCS.replace("{rows}", rows), mimetype="text/html")
