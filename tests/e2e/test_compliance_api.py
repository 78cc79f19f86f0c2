"""/v1/compliance through the API, the broker and a real worker: KYC, AML checks and alerts,
screenings, the gate, and problem details for bad input."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from app.persistence.db import unit_of_work
from app.persistence.models import IdempotencyRecord, OutboxEvent
from app.services.compliance.sanctions_loader import load_directory
from tests.api import Api, unique
from tests.support import Worker, wait_for

pytestmark = pytest.mark.e2e
SMALL = Path(__file__).resolve().parent.parent / "data" / "ofac-sdn-small"
PERSON = {"full_name": "Katherine Johnson", "date_of_birth": "1918-08-26",
          "nationality": "US", "address": "Hampton, Virginia", "document_number": "P1234567",
          "email": "kj@example.org"}


@pytest.fixture
def cx(client: FlaskClient, api_keys: dict[str, str], worker: Worker) -> Api:
    with unit_of_work() as session:
        load_directory(session, SMALL, rescreen_after=False)
    return Api(client, api_keys["compliance"])


@pytest.fixture
def reader(client: FlaskClient, api_keys: dict[str, str]) -> Api:
    return Api(client, api_keys["compliance_reader"])


def case_body(party: str, **overrides: Any) -> dict[str, Any]:
    return {"party": party, "document_type": "passport", "personal_data": dict(PERSON),
            "verification": {"photo_quality": "high", "email_verified": True}, **overrides}


def move(cx: Api, case_id: str, to: str, reason: str | None = None) -> Any:
    return cx.post(f"/v1/compliance/kyc-cases/{case_id}/transitions",
                   {"to": to, "reason": reason, "reviewer": "rita"})


def completed(cx: Api, path: str) -> dict[str, Any]:
    return wait_for(lambda: (r := cx.get(path).get_json())["status"] == "completed" and r,
                    timeout=30, what=path)


def test_a_kyc_case_from_opening_to_approval(cx: Api, reader: Api) -> None:
    party = unique("kyc")
    created = cx.post("/v1/compliance/kyc-cases", case_body(party))
    assert created.status_code == 201, created.get_json()
    case = created.get_json()
    assert (case["status"], case["verification"]["score"]) == ("pending", "0.95")
    assert "Katherine" not in created.get_data(as_text=True)
    assert "personal_data" not in case and "full_name" in case["personal_data_on_file"]
    for to in ("in_review", "approved"):
        response = move(cx, case["case_id"], to)
        assert response.status_code == 200, response.get_json()
    case = reader.get(f"/v1/compliance/kyc-cases/{case['case_id']}").get_json()
    assert case["status"] == "approved" and case["allowed_transitions"] == []
    assert [(h["from"], h["to"]) for h in case["history"]] == [
        (None, "pending"), ("pending", "in_review"), ("in_review", "approved")]
    with unit_of_work() as session:
        decided = session.scalars(select(OutboxEvent).where(
            OutboxEvent.event_type == "kyc.decided", OutboxEvent.aggregate_id == party)).one()
        assert decided.payload["status"] == "approved"
        assert "Katherine" not in str(decided.payload)
    gate = reader.get(f"/v1/compliance/gate/{party}").get_json()
    assert "kyc_not_approved" not in [r["code"] for r in gate["reasons"]]


def test_kyc_refusals_are_problems(cx: Api, reader: Api) -> None:
    party = unique("kyc")
    case_id = cx.post("/v1/compliance/kyc-cases", case_body(party)).get_json()["case_id"]
    illegal = move(cx, case_id, "approved")
    assert illegal.status_code == 409
    assert illegal.mimetype == "application/problem+json"
    assert illegal.get_json()["code"] == "illegal_kyc_transition"
    move(cx, case_id, "in_review")
    no_reason = move(cx, case_id, "rejected")
    assert (no_reason.status_code, no_reason.get_json()["code"]) == (422, "reason_required")
    second = cx.post("/v1/compliance/kyc-cases", case_body(party))
    assert (second.status_code, second.get_json()["code"]) == (409, "kyc_case_open")
    assert move(cx, "nope", "in_review").status_code == 404
    assert move(cx, case_id, "verified").get_json()["code"] == "invalid_status"
    bad = cx.post("/v1/compliance/kyc-cases", case_body(unique("kyc"), document_type="selfie"))
    assert bad.status_code == 422 and "Katherine" not in bad.get_data(as_text=True)
    extra = case_body(unique("kyc"))
    extra["personal_data"]["mother_maiden_name"] = "x"  # minimisation: unknown fields refused
    assert cx.post("/v1/compliance/kyc-cases", extra).status_code == 422
    assert reader.post("/v1/compliance/kyc-cases", case_body(unique("kyc"))).status_code == 403


def test_personal_data_is_revealed_only_to_writers(cx: Api, reader: Api) -> None:
    case_id = cx.post("/v1/compliance/kyc-cases",
                      case_body(unique("kyc"))).get_json()["case_id"]
    path = f"/v1/compliance/kyc-cases/{case_id}?reveal=personal_data"
    assert reader.get(path).status_code == 403
    assert cx.get(path).get_json()["personal_data"]["full_name"] == "Katherine Johnson"


def test_kyc_with_an_idempotency_key_opens_one_case(cx: Api) -> None:
    body, key = case_body(unique("kyc")), unique("key")
    first = cx.post("/v1/compliance/kyc-cases", body, idempotency_key=key)
    second = cx.post("/v1/compliance/kyc-cases", body, idempotency_key=key)
    assert first.get_json()["case_id"] == second.get_json()["case_id"]
    assert second.headers["Idempotent-Replayed"] == "true"
    with unit_of_work() as session:
        stored = session.scalars(select(IdempotencyRecord).where(
            IdempotencyRecord.key == key)).one()
        assert "Katherine" not in str(stored.response_body)


def test_an_aml_check_is_assessed_and_its_alert_worked(cx: Api, reader: Api) -> None:
    party = unique("aml")
    body = {"party": party, "counterparty": "bank-9", "amount": "120000.00", "asset": "USD",
            "type": "withdrawal", "country": "KP",
            "occurred_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat()}
    accepted = cx.post("/v1/compliance/checks", body)
    assert accepted.status_code == 202, accepted.get_json()
    check = completed(reader, accepted.get_json()["status_url"])
    assert (check["score"], check["level"]) == ("0.90", "high")
    assert {r["rule"] for r in check["rules"]} == {
        "reporting_threshold", "large_amount", "outbound", "high_risk"}
    alert_path = f"/v1/compliance/aml-alerts/{check['alert_id']}"
    assert reader.get(alert_path).get_json()["status"] == "open"
    listed = reader.get(f"/v1/compliance/aml-alerts?party={party}").get_json()["alerts"]
    assert [a["alert_id"] for a in listed] == [check["alert_id"]]
    gate = reader.get(f"/v1/compliance/gate/{party}").get_json()
    assert "aml_high_risk_alert" in [r["code"] for r in gate["reasons"]]
    skip = cx.post(f"{alert_path}/transitions", {"to": "resolved", "reason": "x",
                                                 "reviewer": "rita"})
    assert (skip.status_code, skip.get_json()["code"]) == (409, "illegal_alert_transition")
    for to, reason in (("investigating", None), ("false_positive", "known customer")):
        response = cx.post(f"{alert_path}/transitions",
                           {"to": to, "reason": reason, "reviewer": "rita"})
        assert response.status_code == 200, response.get_json()
    assert reader.get(alert_path).get_json()["status"] == "false_positive"


def test_aml_check_input_is_validated(cx: Api) -> None:
    good = {"party": unique("aml"), "counterparty": "bank-9", "amount": "10.00",
            "asset": "USD", "type": "deposit", "occurred_at": datetime.now(UTC).isoformat()}
    for bad, code in (({"amount": "1e3"}, "invalid_amount"), ({"amount": 10}, None),
                      ({"asset": "DOGE"}, "unknown_asset"), ({"type": "gift"}, None),
                      ({"occurred_at": "2026-01-01T00:00:00"}, None),
                      ({"occurred_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()},
                       "occurred_in_future"), ({"country": "Iran"}, "invalid_country")):
        response = cx.post("/v1/compliance/checks", {**good, **bad})
        assert response.status_code == 422, (bad, response.get_json())
        if code:
            assert response.get_json()["code"] == code
    check_id = unique("check")
    assert cx.post("/v1/compliance/checks", {**good, "check_id": check_id}).status_code == 202
    replay = cx.post("/v1/compliance/checks", {**good, "check_id": check_id})
    assert replay.get_json()["check_id"] == check_id
    other = cx.post("/v1/compliance/checks", {**good, "check_id": check_id, "amount": "11"})
    assert (other.status_code, other.get_json()["code"]) == (409, "check_id_reused")


def test_a_screening_through_the_api(cx: Api, reader: Api) -> None:
    party = unique("scr")
    accepted = cx.post("/v1/compliance/screenings",
                       {"party": party, "names": ["Dmitry Khoroshev"],
                        "addresses": ["BC1QVHNFKNW852EPHXYC5HM4Q520ZMVF9MAPHETC9Z"]})
    assert accepted.status_code == 202
    result = completed(reader, accepted.get_json()["status_url"])
    assert result["decision"] == "match"
    assert {(h["entry_uid"], h["kind"]) for h in result["hits"]} == {(48603, "address")}
    names_only = cx.post("/v1/compliance/screenings",
                         {"party": unique("scr"), "names": ["Dmitry Khoroshev"]})
    hits = completed(reader, names_only.get_json()["status_url"])["hits"]
    assert hits[0]["entry_uid"] == 48603
    assert {"entry_uid", "matched_name", "list_version", "score", "decision"} <= set(hits[0])
    bad = cx.post("/v1/compliance/screenings", {"party": party, "addresses": ["not an addr!"]})
    assert (bad.status_code, bad.get_json()["code"]) == (422, "invalid_addresses")
    assert cx.post("/v1/compliance/screenings", {"names": ["x"]}).status_code == 422
    assert reader.get("/v1/compliance/screenings/nope").status_code == 404
    active = reader.get("/v1/compliance/sanctions/lists/active").get_json()
    assert active["entries"] >= 17


def test_compliance_routes_need_a_key(client: FlaskClient) -> None:
    assert client.get("/v1/compliance/gate/someone").status_code == 401


def test_a_release_to_a_sanctioned_payee_is_refused_and_keeps_the_funds(
        cx: Api, client: FlaskClient, api_keys: dict[str, str]) -> None:
    api = Api(client, api_keys["writer"])
    payer, payee = unique("payer"), f"payee-{uuid.uuid4().hex[:8]}"
    api.deposit(payer, "100.00")
    created = api.accepted("/v1/escrows", {"payer": payer, "payee": payee, "amount": "60.00",
                                           "asset": "USD", "release_delay_seconds": 0,
                                           "approvals_required": 1})
    assert api.settle(created)["status"] == "settled"
    approval = api.accepted(f"{created['escrow_url']}/approvals", {"approver": payer})
    assert api.settle(approval)["status"] == "settled"
    # The payee turns out to be a listed person.
    screened = cx.post("/v1/compliance/screenings",
                       {"party": payee, "names": ["LIFSHITS, Artem Mikhaylovich"]})
    assert completed(cx, screened.get_json()["status_url"])["decision"] == "match"
    release = api.settle(api.accepted(f"{created['escrow_url']}/release", {}))
    assert release["status"] == "failed"
    escrow = api.get(created["escrow_url"]).get_json()
    assert escrow["status"] == "approved"
    shown = " ".join(str(c.get("reason")) + str(c.get("reason_detail"))
                     for c in escrow["commands"]) + str(escrow.get("hold_reason"))
    assert "sanction" in shown
    assert api.balance(payer)["pending_debits"] == "60.00"
    assert api.balance(payee) == {}


def test_a_reviewer_dismisses_a_possible_hit_through_the_api(cx: Api, reader: Api) -> None:
    party = unique("rev")
    accepted = cx.post("/v1/compliance/screenings",
                       {"party": party, "names": ["Dmitry Khoroshev"], "nationality": "DE",
                        "birth_year": 1988, "entity_type": "individual"})
    assert accepted.status_code == 202
    result = completed(reader, accepted.get_json()["status_url"])
    [hit] = result["hits"]
    assert (hit["entry_uid"], hit["decision"], hit["list"]) == (48603, "possible", "OFAC-SDN")
    assert hit["breakdown"]["rule"] == "subset"
    assert set(hit["attributes"]["contradicted"]) == {"date_of_birth", "country"}
    assert reader.get(f"/v1/compliance/gate/{party}").get_json()["status"] == "review"
    path = f"/v1/compliance/screenings/{result['screening_id']}/reviews"
    body = {"action": "dismiss", "entry_uid": 48603, "note": "born 1988 in Hamburg"}
    assert reader.post(path, body).status_code == 403  # compliance:read cannot review
    assert cx.post(path, {**body, "note": ""}).status_code == 422
    done = cx.post(path, body)
    assert done.status_code == 201, done.get_json()
    review = done.get_json()
    assert (review["action"], review["screening"]["decision"]) == ("dismiss", "clear")
    assert review["reviewer"] and review["api_key_id"]
    assert reader.get(f"/v1/compliance/gate/{party}").get_json()["status"] == "clear"
    history = reader.get(path).get_json()["reviews"]
    assert [(r["action"], r["note"]) for r in history] == [("dismiss", "born 1988 in Hamburg")]
    again = cx.post(path, body)  # the reviewed screening is no longer the latest
    assert (again.status_code, again.get_json()["code"]) == (409, "screening_superseded")
    bad = cx.post("/v1/compliance/screenings", {"party": party, "nationality": "Atlantis"})
    assert (bad.status_code, bad.get_json()["code"]) == (422, "invalid_country")
