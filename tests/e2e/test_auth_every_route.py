"""Every route the app registers is authenticated and scoped, unless it is listed here as public:
no key is a 401, a revoked key is a 401, and a key holding every scope but the route's is a 403.
A new route that skips the endpoint decorator fails this test."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from web.endpoint import ROUTES

pytestmark = pytest.mark.e2e

PUBLIC = {"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/docs/<path:filename>",
          "/static/<path:filename>"}
# The operator console signs in with an API key once and then holds a session cookie: its own
# test below checks that none of its pages answers without one.
CONSOLE = "/console"
CONSOLE_PUBLIC = {"/console/sign-in", "/console/static/<path:filename>"}
_ARG = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def _rules(app: Flask) -> list[tuple[str, str]]:
    """(method, rule) for every registered route but HEAD and OPTIONS, which Flask adds."""
    return sorted((method, rule.rule) for rule in app.url_map.iter_rules()
                  for method in rule.methods or () if method not in ("HEAD", "OPTIONS"))


def _scope_of(method: str, rule: str) -> str:
    path = _ARG.sub(r"{\1}", rule)
    scopes = [r.scope for r in ROUTES if (r.method, r.path) == (method, path)]
    assert scopes and scopes[0], f"{method} {rule} is neither public nor an authenticated route"
    return scopes[0]


def _url(rule: str) -> str:
    return _ARG.sub("probe-1", rule)


@pytest.fixture(scope="module")
def keys(service_env: dict[str, str]) -> dict[str, str]:
    """A revoked key, and per scope a key that holds every other scope (never `admin`,
    which allows everything)."""
    from app.persistence.db import unit_of_work  # noqa: PLC0415
    from app.services.apikeys import create_api_key, revoke_api_key  # noqa: PLC0415

    scopes = sorted({r.scope for r in ROUTES if r.scope})
    with unit_of_work() as session:
        made = {scope: create_api_key(session, name=f"all-but-{scope}",
                                      scopes=[s for s in scopes if s not in (scope, "admin")])
                for scope in scopes}
        revoked = create_api_key(session, name="revoked", scopes=scopes)
        revoke_api_key(session, revoked.split("_")[1])
    return {**made, "revoked": revoked}


def test_the_route_table_covers_every_kind_of_route(flask_app: Flask) -> None:
    methods = {method for method, _ in _rules(flask_app)}
    assert {"GET", "POST", "PUT", "DELETE"} <= methods
    assert len([r for _, r in _rules(flask_app) if r not in PUBLIC]) >= 40


def test_every_console_page_needs_a_session(flask_app: Flask, client: FlaskClient) -> None:
    pages = [(m, r) for m, r in _rules(flask_app)
             if r.startswith(CONSOLE + "/") and r not in CONSOLE_PUBLIC]
    assert pages
    for method, rule in pages:
        response = client.open(_url(rule), method=method)
        # A form POST without a session fails its CSRF check (400) before anything runs.
        refused = (302, 303, 401, 403) if method == "GET" else (302, 303, 400, 401, 403)
        assert response.status_code in refused, (method, rule, response.status_code)
        if response.status_code in (302, 303):
            assert "/console/sign-in" in response.headers["Location"], (method, rule)


def test_every_route_refuses_no_key_a_revoked_key_and_a_key_without_its_scope(
        flask_app: Flask, client: FlaskClient, keys: dict[str, str]) -> None:
    checked = 0
    for method, rule in _rules(flask_app):
        if rule in PUBLIC or rule == CONSOLE or rule.startswith(CONSOLE + "/"):
            continue
        scope, url = _scope_of(method, rule), _url(rule)
        for headers, status, code in (
                ({}, 401, "unauthenticated"),
                ({"Authorization": f"Bearer {keys['revoked']}"}, 401, "invalid_api_key"),
                ({"Authorization": f"Bearer {keys[scope]}"}, 403, "insufficient_scope")):
            response = client.open(url, method=method, json={}, headers=headers)
            assert response.status_code == status, (method, rule, headers, response.get_json())
            assert response.mimetype == "application/problem+json"
            assert response.get_json()["code"] == code, (method, rule)
        checked += 1
    assert checked >= 40
