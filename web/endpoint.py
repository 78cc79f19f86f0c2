"""One decorator carries what every /v1 route needs: authentication and scope, body parsing,
Idempotency-Key, the unit of work, after-commit dispatch, and its OpenAPI description."""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, current_app, g, json, request
from pydantic import BaseModel
from sqlalchemy.orm import Session

from app.config import Settings
from app.persistence.db import unit_of_work
from app.services import apikeys, idempotency
from app.services.apikeys import Principal
from app.services.commands import request_hash
from web.problems import ApiProblem
from web.schemas import has_nul

MAX_IDEMPOTENCY_KEY = 200
# Printable ASCII without spaces: a key survives every proxy and log line unchanged.
IDEMPOTENCY_KEY = re.compile(f"[!-~]{{1,{MAX_IDEMPOTENCY_KEY}}}")


@dataclass
class Context:
    session: Session
    settings: Settings
    principal: Principal
    _after_commit: list[Callable[[], object]] = field(default_factory=list)

    def after_commit(self, fn: Callable[..., object], *args: object) -> None:
        self._after_commit.append(lambda: fn(*args))


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Query:
    """A documented query parameter (web.openapi lists it; the handler reads request.args)."""

    name: str
    description: str
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})


@dataclass(frozen=True)
class RouteDoc:
    method: str
    path: str
    summary: str
    scope: str | None
    body: type[BaseModel] | None
    response: type[BaseModel] | None
    status: int
    operation_id: str = ""
    description: str = ""
    blueprint: str = ""
    query: tuple[Query, ...] = ()
    examples: dict[str, Any] | None = None


def camel_case(name: str) -> str:
    """`create_escrow` -> `createEscrow`: a handler's name as an OpenAPI operationId."""
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)


ROUTES: list[RouteDoc] = []


def _authenticate(session: Session, settings: Settings, scope: str) -> Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    challenge = {"WWW-Authenticate": 'Bearer realm="fusion-prime"'}
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiProblem(401, "unauthenticated", "send Authorization: Bearer <api key>",
                         headers=challenge)
    cache: apikeys.PrincipalCache = current_app.config["PRINCIPALS"]
    principal = cache.authenticate(session, token.strip(),
                                   settings.api_key_pepper.get_secret_value())
    if principal is None:
        raise ApiProblem(401, "invalid_api_key", "the API key is unknown or revoked",
                         headers=challenge)
    if not principal.allows(scope):
        raise ApiProblem(403, "insufficient_scope", f"this route needs the scope {scope!r}")
    return principal


def _query_problem(schema: dict[str, Any], raw: str) -> str | None:
    if schema.get("type") == "integer":
        if not re.fullmatch(r"-?\d{1,18}", raw):
            return "must be an integer"
        value = int(raw)
        if value < schema.get("minimum", value) or value > schema.get("maximum", value):
            return f"must be {schema.get('minimum', '')}..{schema.get('maximum', '')}"
    if "enum" in schema and raw not in schema["enum"]:
        return f"must be one of {', '.join(map(str, schema['enum']))}"
    return None


def _check_parameters(path_args: dict[str, str], declared: tuple[Query, ...]) -> None:
    """Request bodies refuse NUL in web.schemas.Request; path and query parameters are checked
    here (the Idempotency-Key by its pattern), so no route passes a NUL to PostgreSQL, and a
    documented query parameter is held to its documented schema."""
    nul = "text must not contain a NUL character"
    errors = [{"field": f"path.{name}", "code": "nul_character", "message": nul}
              for name, value in path_args.items() if has_nul(value)]
    errors += [{"field": f"query.{name}", "code": "nul_character", "message": nul}
               for name, values in request.args.lists() if has_nul(name) or has_nul(values)]
    known = {q.name for q in declared}
    # Unknown query parameters are refused as unknown body fields are: a misspelt filter
    # must not silently list everything.
    errors += [{"field": f"query.{name}", "code": "unknown_parameter",
                "message": f"not a parameter of this route (known: {sorted(known)})"}
               for name in request.args if name not in known and not has_nul(name)]
    for query in declared:
        raw = request.args.get(query.name)
        problem = None if raw is None or has_nul(raw) else _query_problem(query.schema, raw)
        if problem is not None:
            errors.append({"field": f"query.{query.name}", "code": "invalid_parameter",
                           "message": problem})
    if errors:
        raise ApiProblem(422, "validation_failed", "the request does not match the schema",
                         errors)


def _parse_body(model: type[BaseModel]) -> BaseModel:
    raw = request.get_data(cache=True)
    if request.mimetype != "application/json":
        raise ApiProblem(415, "unsupported_media_type", "send Content-Type: application/json")
    return model.model_validate_json(raw or b"{}")


def endpoint(bp: Blueprint, method: str, path: str, *, scope: str, summary: str,
             body: type[BaseModel] | None = None, response: type[BaseModel] | None = None,
             status: int = 200, operation_id: str | None = None,
             description: str | None = None, query: tuple[Query, ...] = (),
             examples: dict[str, Any] | None = None,
             ) -> Callable[[Callable[..., Reply]], Callable[..., Response]]:
    """Register a /v1 route. Its OpenAPI entry comes from these arguments: operationId is the
    handler's name in camelCase unless given, the description is its docstring unless given,
    `examples` names request bodies (else the body model's own examples are used)."""
    flask_rule = path.replace("{", "<").replace("}", ">")

    def decorate(handler: Callable[..., Reply]) -> Callable[..., Response]:
        ROUTES.append(RouteDoc(
            method, path, summary, scope, body, response, status,
            operation_id=operation_id or camel_case(handler.__name__),
            description=description or inspect.getdoc(handler) or "", blueprint=bp.name,
            query=query, examples=examples))

        @functools.wraps(handler)
        def view(**path_args: str) -> Response:
            settings: Settings = current_app.config["SETTINGS"]
            key = request.headers.get("Idempotency-Key") if method == "POST" else None
            with unit_of_work() as session:
                ctx = Context(session, settings, _authenticate(session, settings, scope))
                g.principal = ctx.principal
                _check_parameters(path_args, query)
                if key is not None and not IDEMPOTENCY_KEY.fullmatch(key):
                    raise ApiProblem(400, "invalid_idempotency_key",
                                     f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} "
                                     "printable ASCII characters, no spaces")
                parsed = _parse_body(body) if body is not None else None
                if key is not None:
                    fingerprint = request_hash(parsed.model_dump(mode="json") if parsed else {})
                    stored = idempotency.claim(session, api_key_id=ctx.principal.key_id, key=key,
                                               method=method, path=request.path,
                                               fingerprint=fingerprint)
                    if stored is not None:
                        return _json(stored.status_code, stored.body, replayed=True)
                args = (ctx, parsed) if parsed is not None else (ctx,)
                reply = handler(*args, **path_args)
                if key is not None:
                    idempotency.complete(session, api_key_id=ctx.principal.key_id, key=key,
                                         status_code=reply.status, body=reply.body)
            # Enqueue only once the command is durable; if this send is lost, the sweeper
            # re-sends the command from Postgres.
            for send in ctx._after_commit:
                try:
                    send()
                except Exception:  # the command is stored; the sweeper will send it
                    current_app.logger.exception("enqueue failed after commit")
            return _json(reply.status, reply.body)

        bp.add_url_rule(flask_rule, endpoint=handler.__name__, view_func=view, methods=[method])
        return view

    return decorate


def _json(status: int, body: dict[str, Any], *, replayed: bool = False) -> Response:
    response = Response(json.dumps(body), status=status, mimetype="application/json")
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response
