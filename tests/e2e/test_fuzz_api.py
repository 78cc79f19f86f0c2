"""Schemathesis over the live API's /openapi.json (the Flask app through WSGI, a real database,
broker and worker): for every operation, generated valid and invalid requests with an admin key
never get a 5xx, invalid data is refused with a 4xx, and answers match the documented statuses,
content types and schemas. Bounded per operation so the whole run takes a couple of minutes;
FUZZ_EXAMPLES raises the bound for a longer hunt."""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

import web.routes
from tests.support import Worker
from web.openapi import build_spec

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


def _mutates_authorization(case: Any) -> bool:
    """A negative case whose only fault is in Authorization (dropped, or made invalid) is not
    what is sent: the test always adds a valid key. Auth itself is test_auth_every_route's."""
    data = case.meta.phase.data if case.meta is not None else None
    mutations = getattr(data, "mutations", None) or []
    described = json.dumps([m.to_dict() for m in mutations], default=str)
    return "Authorization" in described or "Authorization" in str(
        getattr(data, "description", ""))




def _document() -> dict[str, Any]:
    """The document /openapi.json serves, built at collection time: schemathesis needs it to
    make one test per operation, before any fixture (and so before the app) exists. Importing
    the route modules registers every route; no settings are read until a request."""
    for module in pkgutil.iter_modules(web.routes.__path__):
        importlib.import_module(f"web.routes.{module.name}")
    return build_spec()


# schemathesis.pytest.from_fixture would load /openapi.json from the running app, but its
# lazy loader breaks under pytest 9 (Function._nodeid); the live app is still what is called,
# and a test below holds the served document to this one.
schema = schemathesis.openapi.from_dict(_document())


@pytest.fixture(scope="module", autouse=True)
def _unsubscribe_fuzzed_webhooks(service_env: dict[str, str]) -> Iterator[None]:
    """Webhooks are global: one the fuzzer subscribed would receive every later test's
    alerts (and count in their deliveries). Those it made are unsubscribed at the end."""
    from app.persistence.db import unit_of_work  # noqa: PLC0415 - after service_env
    from app.services.alerts import subscriptions  # noqa: PLC0415

    with unit_of_work() as session:
        before = {row.id for row in subscriptions.active(session)}
    yield
    with unit_of_work() as session:
        for row in subscriptions.active(session):
            if row.id not in before:
                subscriptions.delete(session, row.id, datetime.now(UTC))


def test_the_fuzzed_document_is_the_served_one(flask_app: Flask) -> None:
    served = flask_app.test_client().get("/openapi.json").get_json()
    assert served == schema.raw_schema


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_the_api_holds_under_generated_requests(case: Any, flask_app: Flask, worker: Worker,
                                                api_keys: dict[str, str]) -> None:
    # admin holds every scope, so generated requests get past authentication to the
    # parsing and the services; scopes themselves are tested in test_auth_every_route.
    checks = CHECKS if _mutates_authorization(case) else [*CHECKS, negative_data_rejection]
    case.call_and_validate(app=flask_app, checks=checks,
                           headers={"Authorization": f"Bearer {api_keys['admin']}"})
