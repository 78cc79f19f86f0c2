"""Through the API, the broker, a real worker and Postgres, and back out through the API."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.api import Api, unique
from tests.support import Worker

pytestmark = pytest.mark.e2e


@pytest.fixture
def api(client: FlaskClient, api_keys: dict[str, str], worker: Worker) -> Api:
    return Api(client, api_keys["writer"])


def test_deposit_create_approve_release_settles_the_ledger(api: Api) -> None:
    payer, payee, arbiter = unique("alice"), unique("bob"), unique("carol")
    api.deposit(payer, "1000.00")
    created = api.accepted("/v1/escrows", {
        "payer": payer, "payee": payee, "arbiter": arbiter, "amount": "250.50", "asset": "USD",
        "release_delay_seconds": 0, "approvals_required": 2})
    assert api.settle(created)["status"] == "settled"
    escrow = api.get(f"/v1/escrows/{created['escrow_id']}").get_json()
    assert escrow["status"] == "created"
    assert api.balance(payer) == {"asset": "USD", "posted": "1000.00", "pending_debits": "250.50",
                                  "pending_credits": "0.00", "available": "749.50"}

    for approver in (payer, arbiter):
        approval = api.accepted(f"/v1/escrows/{created['escrow_id']}/approvals",
                                {"approver": approver})
        assert api.settle(approval)["status"] == "settled"
    assert api.get(f"/v1/escrows/{created['escrow_id']}").get_json()["status"] == "approved"

    release = api.accepted(f"/v1/escrows/{created['escrow_id']}/release", {})
    assert api.settle(release)["status"] == "settled"
    escrow = api.get(f"/v1/escrows/{created['escrow_id']}").get_json()
    assert escrow["status"] == "released"
    assert {a["approver"] for a in escrow["approvals"]} == {payer, arbiter}
    assert api.balance(payer)["posted"] == "749.50"
    assert api.balance(payer)["pending_debits"] == "0.00"
    assert api.balance(payee)["available"] == "250.50"
