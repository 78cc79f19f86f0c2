"""POST /v1/settlement/command-batches and GET .../{batch_id}: each item accepted or rejected
on its own, one effect per command id, and the batch's progress."""

from __future__ import annotations

from typing import Any

from tests.api import Api, unique
from tests.support import wait_for

BATCHES = "/v1/settlement/command-batches"


def transfer(payer: str, payee: str, amount: str = "1.00", **changes: Any) -> dict[str, Any]:
    return {"command_id": unique("bcmd"), "type": "COLLATERAL_TRANSFER", "workflow_id": "wf",
            "account_ref": "acc", "payer": payer, "payee": payee, "asset": "USD",
            "amount": amount, "deadline": "2999-01-01T00:00:00Z", **changes}


def finished(api: Api, batch_id: str, accepted: int) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        view = dict(api.get(f"{BATCHES}/{batch_id}").get_json())
        terminal = view["counts"].get("settled", 0) + view["counts"].get("failed", 0)
        return view if terminal == accepted else None
    return wait_for(done, timeout=60, what=f"batch {batch_id} terminal")


def test_items_are_accepted_or_rejected_on_their_own_and_settle_in_order(api: Api) -> None:
    alice, bob = unique("alice"), unique("bob")
    api.deposit(alice, "10.00")
    known = transfer(alice, bob, "1.00")
    assert api.accepted("/v1/settlement/commands", known)["command_id"] == known["command_id"]
    reused = {**transfer(alice, bob), "command_id": known["command_id"], "amount": "2.00"}
    first, second = transfer(alice, bob, "6.00"), transfer(alice, bob, "5.00")
    body = {"commands": [
        first,
        {**transfer(alice, bob), "amount": "NaN"},           # domain validation
        {**transfer(alice, bob), "amount": 3.5},             # schema validation
        "not an object",
        known,                                               # known: accepted, no new effect
        reused,                                              # known id, other body
        second,                                              # after `first`: too little left
        first,                                               # a duplicate in the batch
    ]}
    response = api.post(BATCHES, body)
    assert response.status_code == 202, response.get_json()
    reply = response.get_json()
    assert [i["status"] for i in reply["items"]] == [
        "accepted", "rejected", "rejected", "rejected", "accepted", "rejected", "accepted",
        "accepted"]
    problems = [i.get("problem") for i in reply["items"]]
    assert problems[1]["code"] == "invalid_amount" and problems[1]["status"] == 422
    assert problems[2]["code"] == "validation_failed"
    assert problems[2]["type"].endswith("/validation_failed")
    assert problems[3]["code"] == "validation_failed"
    assert (problems[5]["code"], problems[5]["status"]) == ("command_id_reused", 409)
    assert [i["command_id"] for i in reply["items"]][:1] == [first["command_id"]]
    assert reply["status_url"] == f"{BATCHES}/{reply['batch_id']}"

    view = finished(api, reply["batch_id"], accepted=3)
    assert (view["item_count"], view["accepted_count"], view["rejected_count"]) == (8, 4, 4)
    outcome = {i["command_id"]: i for i in view["items"]}
    assert outcome[first["command_id"]]["status"] == "settled"
    assert (outcome[second["command_id"]]["status"],
            outcome[second["command_id"]]["reason"]) == ("failed", "insufficient_funds")
    # the known command settled once, through its own task or this batch
    api.settle({"command_id": known["command_id"]})
    assert api.balance(bob)["posted"] == "7.00"
    assert api.balance(alice)["posted"] == "3.00"
    settled = api.command(first["command_id"])
    assert settled["settled_by"] == reply["batch_id"]


def test_an_empty_or_oversized_batch_is_refused_whole(api: Api) -> None:
    for commands in ([], [transfer("a", "b") for _ in range(1001)]):
        response = api.post(BATCHES, {"commands": commands})
        assert response.status_code == 422
        assert response.get_json()["code"] == "validation_failed"
    assert api.get(f"{BATCHES}/{unique('nobatch')}").status_code == 404


def test_a_replayed_idempotency_key_returns_the_first_batch(api: Api) -> None:
    alice, bob = unique("alice"), unique("bob")
    api.deposit(alice, "5.00")
    body = {"commands": [transfer(alice, bob, "1.00"), transfer(alice, bob, "1.00")]}
    key = unique("batch-key")
    first = api.post(BATCHES, body, idempotency_key=key)
    again = api.post(BATCHES, body, idempotency_key=key)
    assert first.status_code == again.status_code == 202
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.get_json() == first.get_json()
    other = api.post(BATCHES, {"commands": body["commands"][:1]}, idempotency_key=key)
    assert (other.status_code, other.get_json()["code"]) == (409, "idempotency_key_reused")
    finished(api, first.get_json()["batch_id"], accepted=2)
    assert api.balance(bob)["posted"] == "2.00"


def test_a_batch_reads_in_pages(api: Api) -> None:
    alice = unique("alice")
    api.deposit(alice, "50.00")
    commands = [transfer(alice, unique("payee")) for _ in range(7)]
    reply = api.accepted(BATCHES, {"commands": commands})
    finished(api, reply["batch_id"], accepted=7)
    seen, cursor = [], ""
    while True:
        page = api.get(f"{BATCHES}/{reply['batch_id']}?limit=3&cursor={cursor}").get_json()
        seen += [i["command_id"] for i in page["items"]]
        assert page["counts"] == {"settled": 7}
        if page["next_cursor"] is None:
            break
        cursor = page["next_cursor"]
    assert seen == [c["command_id"] for c in commands]


def test_the_batch_routes_are_in_the_openapi_document(api: Api) -> None:
    spec = api.client.get("/openapi.json").get_json()
    assert spec["paths"][BATCHES]["post"]["operationId"] == "createCommandBatch"
    assert spec["paths"][BATCHES + "/{batch_id}"]["get"]["operationId"] == "getCommandBatch"
    # OpenAPI 3.0 allows scopes in a security requirement only for OAuth2: the bearer
    # requirement is empty and the scope is named beside it.
    assert spec["paths"][BATCHES]["post"]["security"] == [{"bearer": []}]
    assert spec["paths"][BATCHES]["post"]["x-required-scope"] == "settlement:write"
