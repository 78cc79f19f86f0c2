"""Through the API, the broker, a real worker and Postgres, and back out through the API."""

from __future__ import annotations

import pytest

from tests.api import Api, unique

pytestmark = pytest.mark.e2e


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


def test_an_escrow_larger_than_the_balance_fails_with_insufficient_funds(api: Api) -> None:
    payer = unique("short")
    api.deposit(payer, "100.00")
    created = api.accepted("/v1/escrows", {
        "payer": payer, "payee": unique("payee"), "amount": "100.01", "asset": "USD",
        "release_delay_seconds": 0, "approvals_required": 1})
    command = api.settle(created)
    assert (command["status"], command["reason"]) == ("failed", "insufficient_funds")
    escrow = api.get(created["escrow_url"]).get_json()
    assert (escrow["status"], escrow["reason"]) == ("failed", "insufficient_funds")
    assert api.balance(payer)["available"] == "100.00"


def test_refund_too_early_fails_with_its_reason_and_keeps_the_hold(api: Api) -> None:
    payer = unique("early")
    api.deposit(payer, "40.00")
    created = api.accepted("/v1/escrows", {
        "payer": payer, "payee": unique("payee"), "amount": "40.00", "asset": "USD",
        "release_delay_seconds": 3600, "approvals_required": 1})
    api.settle(created)
    refund = api.accepted(f"/v1/escrows/{created['escrow_id']}/refund", {"requested_by": payer})
    command = api.settle(refund)
    assert (command["status"], command["reason"]) == ("failed", "refund_not_yet_allowed")
    escrow = api.get(created["escrow_url"]).get_json()
    assert escrow["status"] == "created"
    assert any(c["reason"] == "refund_not_yet_allowed" for c in escrow["commands"])
    assert api.balance(payer)["pending_debits"] == "40.00"


def test_a_dvp_through_the_api_settles_both_legs(api: Api) -> None:
    buyer, seller = unique("buyer"), unique("seller")
    api.deposit(buyer, "500.00")
    api.deposit(seller, "2.5", asset="ETH")
    body = {"command_id": unique("cmd"), "type": "DVP", "workflow_id": "wf-1",
            "account_ref": "acct-1", "payer": buyer, "payee": seller, "asset": "USD",
            "amount": "500.00", "deadline": "2999-01-01T00:00:00Z", "counter_asset": "ETH",
            "counter_amount": "2.5"}
    command = api.settle(api.accepted("/v1/settlement/commands", body))
    assert command["status"] == "settled"
    assert command["validated_at"] and command["settling_at"] and command["settled_at"]
    assert api.balance(buyer, "ETH")["posted"] == "2.500000000000000000"
    assert api.balance(seller)["posted"] == "500.00"
    # The same command again: the first acceptance, no second settlement.
    again = api.post("/v1/settlement/commands", body)
    assert again.status_code == 202
    assert api.balance(seller)["posted"] == "500.00"
    # The same command id with another body is a conflict.
    clash = api.post("/v1/settlement/commands", {**body, "amount": "1.00"})
    assert clash.status_code == 409
    assert clash.get_json()["code"] == "command_id_reused"
