"""A small client over the Flask test client for end-to-end tests: authenticated calls and waits."""

from __future__ import annotations

import uuid
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.support import wait_for


class Api:
    def __init__(self, client: FlaskClient, key: str) -> None:
        self.client, self.key = client, key

    def headers(self, idempotency_key: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.key}"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        return headers

    def post(self, path: str, body: Any, idempotency_key: str | None = None) -> TestResponse:
        return self.client.post(path, json=body, headers=self.headers(idempotency_key))

    def get(self, path: str) -> TestResponse:
        return self.client.get(path, headers=self.headers())

    def accepted(self, path: str, body: Any) -> dict[str, Any]:
        response = self.post(path, body)
        assert response.status_code == 202, response.get_json()
        return dict(response.get_json())

    def command(self, command_id: str) -> dict[str, Any]:
        return dict(self.get(f"/v1/settlement/commands/{command_id}").get_json())

    def settle(self, accepted: dict[str, Any], timeout: float = 30) -> dict[str, Any]:
        """Wait until the command reaches a terminal state; return it."""
        command_id = accepted["command_id"]
        return wait_for(
            lambda: (c := self.command(command_id))["status"] in ("settled", "failed") and c,
            timeout=timeout, what=f"command {command_id} terminal")

    def deposit(self, account: str, amount: str, asset: str = "USD") -> dict[str, Any]:
        command = self.settle(self.accepted(
            "/v1/ledger/deposits", {"account_id": account, "asset": asset, "amount": amount}))
        assert command["status"] == "settled", command
        return command

    def balance(self, account: str, asset: str = "USD") -> dict[str, str]:
        response = self.get(f"/v1/ledger/accounts/{account}")
        if response.status_code == 404:
            return {}
        return next(b for b in response.get_json()["balances"] if b["asset"] == asset)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
