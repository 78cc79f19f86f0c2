"""/v1/compliance: KYC cases, AML checks and alerts, sanctions screenings, the gate."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, Literal

from flask import Blueprint, request
from flask.blueprints import BlueprintSetupState
from pydantic import AwareDatetime, ConfigDict, Field, StrictBool, StrictStr

from app.domain.errors import NotFound
from app.services.compliance import (
    alerts,
    aml,
    gate,
    kyc,
    lists,
    rescreen,
    reviews,
    screening,
)
from app.services.compliance.pii import pii_cipher
from tasks.compliance import send_check, send_screening
from web.endpoint import Context, Query, Reply, endpoint
from web.problems import ApiProblem
from web.responses import (
    AmlAlertList,
    AmlAlertView,
    AmlCheckView,
    GateView,
    KycCaseView,
    RescreenView,
    SanctionsListView,
    ScreeningReviewList,
    ScreeningReviewView,
    ScreeningView,
    WorkAccepted,
)
from web.schemas import Party, Request

bp = Blueprint("compliance", __name__)
WRITE, READ = "compliance:write", "compliance:read"
Text = StrictStr


@bp.record_once
def _require_pii_key(state: BlueprintSetupState) -> None:
    # create_app fails (and gunicorn with it) in production without PII_ENCRYPTION_KEY.
    pii_cipher(state.app.config["SETTINGS"])


class PersonalData(Request):
    """Stored encrypted; a read shows which fields are on file, values only on reveal."""

    full_name: Text = Field(min_length=1, max_length=200, examples=["Alice Martin"])
    date_of_birth: date | None = None
    nationality: Text | None = Field(default=None, max_length=56)
    country_of_residence: Text | None = Field(default=None, max_length=56)
    address: Text | None = Field(default=None, max_length=500)
    document_number: Text | None = Field(default=None, max_length=64)
    email: Text | None = Field(default=None, max_length=254)
    phone: Text | None = Field(default=None, max_length=32)


class VerificationIn(Request):
    photo_quality: Literal["high", "medium", "low"] = Field(
        description="Quality of the document photo, as the capture step judged it")
    email_verified: StrictBool = Field(default=False, description="Email ownership proven")
    phone_verified: StrictBool = Field(default=False, description="Phone ownership proven")


class KycCaseIn(Request):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "case_id": "kyc-alice-1", "party": "alice", "document_type": "passport",
        "personal_data": {"full_name": "Alice Martin", "date_of_birth": "1985-04-12",
                          "nationality": "FR", "country_of_residence": "FR",
                          "email": "alice@example.com"},
        "verification": {"photo_quality": "high", "email_verified": True}}]})

    case_id: Text | None = Field(default=None, min_length=1, max_length=64, description=(
        "Your id for the case, and its idempotency key; generated when omitted"))
    party: Party = Field(description="The account id (or chain address) being verified")
    document_type: Literal["passport", "national_id", "driving_licence",
                           "residence_permit"] = Field(description="The identity document")
    personal_data: PersonalData = Field(description="Identity data, stored encrypted")
    verification: VerificationIn = Field(description="What the capture step verified")


class TransitionIn(Request):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"to": "in_review", "reviewer": "officer-7"},
        {"to": "approved", "reason": "documents verified", "reviewer": "officer-7"}]})

    to: Text = Field(description="The status to move to (see allowed_transitions)",
                     examples=["in_review"])
    reason: Text | None = Field(default=None, max_length=1000,
                                description="Why; kept in the history")
    reviewer: Text = Field(min_length=1, max_length=200, description="Who decided")


class CheckIn(Request):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "check_id": "chk-0001", "party": "alice", "counterparty": "bob", "amount": "9500.00",
        "asset": "USD", "type": "external_transfer", "country": "DE",
        "occurred_at": "2026-01-05T09:30:00Z"}]})

    check_id: Text | None = Field(default=None, min_length=1, max_length=200,
                                  description="Your id, and the idempotency key")
    party: Party
    counterparty: Party
    amount: Text = Field(examples=["9500.00"])
    asset: Text = Field(examples=["USD"])
    type: Literal["deposit", "withdrawal", "internal_transfer", "external_transfer", "trade"]
    country: Text | None = Field(default=None, examples=["DE"])
    occurred_at: AwareDatetime


class ScreeningIn(Request):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "screening_id": "scr-alice-1", "party": "alice", "names": ["Alice Martin"],
        "addresses": ["0x52908400098527886E0F7030069857D2E4169EE7"]}]})

    screening_id: Text | None = Field(default=None, min_length=1, max_length=200,
                                      description="Your id, and the idempotency key")
    party: Party = Field(description="The account the names and addresses belong to")
    names: list[Text] = Field(default_factory=list, max_length=20,
                              description="Names to match against the sanctions list")
    addresses: list[Text] = Field(default_factory=list, max_length=20,
                                  description="Crypto addresses to match exactly")
    # Secondary attributes: they confirm or contradict a name hit (README, Sanctions).
    date_of_birth: date | None = Field(default=None, description="Confirms or contradicts a "
                                                                 "name hit")
    birth_year: int | None = Field(default=None, ge=1850, le=2100,
                                   description="When only the year is known")
    nationality: Text | None = Field(default=None, max_length=56, examples=["DE", "Germany"],
                                     description="Country code or name")
    entity_type: Literal["individual", "entity", "vessel", "aircraft"] | None = Field(
        default=None, description="What the party is")


class ScreeningReviewIn(Request):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "action": "dismiss", "entry_uid": 36, "list": "OFAC-SDN",
        "note": "different date of birth", "reviewer": "officer-7"}]})

    review_id: Text | None = Field(default=None, min_length=1, max_length=64)
    action: Literal["dismiss", "confirm"]
    entry_uid: int | None = Field(default=None, description="the hit's listed entry")
    list: Text | None = Field(default=None, max_length=32, examples=["OFAC-SDN"])
    query: Text | None = Field(default=None, max_length=32, examples=["name[0]"],
                               description="an unscreenable name's hit, instead of entry_uid")
    note: Text = Field(min_length=1, max_length=2000)
    reviewer: Text | None = Field(default=None, min_length=1, max_length=200,
                                  description="default: the API key's name")


def _now() -> datetime:
    return datetime.now(UTC)


@endpoint(bp, "POST", "/v1/compliance/kyc-cases", scope=WRITE, body=KycCaseIn, status=201,
          response=KycCaseView,
          summary="Open a KYC case (pending); personal data is stored encrypted")
def open_kyc_case(ctx: Context, body: KycCaseIn) -> Reply:
    """Opens the case as pending, scores the verification and queues a sanctions screening
    of the party's name. 200 with the existing case when case_id was sent before."""
    cipher = pii_cipher(ctx.settings)
    opened = kyc.open_case(
        ctx.session, cipher, party=body.party, document_type=body.document_type,
        personal_data=body.personal_data.model_dump(mode="json", exclude_none=True),
        photo_quality=body.verification.photo_quality,
        email_verified=body.verification.email_verified,
        phone_verified=body.verification.phone_verified, case_id=body.case_id)
    if opened.screening_id is not None:
        ctx.after_commit(send_screening, opened.screening_id)
    return Reply(201 if opened.created else 200, kyc.case_view(ctx.session, opened.case, cipher))


@endpoint(bp, "GET", "/v1/compliance/kyc-cases/{case_id}", scope=READ, response=KycCaseView,
          query=(Query("reveal", "`personal_data` to include the decrypted values",
                       {"type": "string", "enum": ["personal_data"]}),),
          summary="A KYC case with its history and verification score; "
                  "?reveal=personal_data needs compliance:write")
def get_kyc_case(ctx: Context, case_id: str) -> Reply:
    reveal = request.args.get("reveal") == "personal_data"
    if reveal and not ctx.principal.allows(WRITE):
        raise ApiProblem(403, "insufficient_scope", "revealing personal data needs "
                         "the scope 'compliance:write'")
    case = kyc.get_case(ctx.session, case_id)
    return Reply(200, kyc.case_view(ctx.session, case, pii_cipher(ctx.settings), reveal=reveal))


@endpoint(bp, "POST", "/v1/compliance/kyc-cases/{case_id}/transitions", scope=WRITE,
          body=TransitionIn, response=KycCaseView,
          summary="Move a KYC case; an illegal move is a 409")
def transition_kyc_case(ctx: Context, body: TransitionIn, case_id: str) -> Reply:
    """pending → in_review → approved | rejected (and the other moves allowed_transitions
    lists). Settlement needs an approved case for both parties when the KYC gate is on."""
    case = kyc.transition_case(ctx.session, case_id, to=body.to, reason=body.reason,
                               reviewer=body.reviewer, now=_now())
    return Reply(200, kyc.case_view(ctx.session, case, pii_cipher(ctx.settings)))


def _accepted(kind: str, ident: str, status: str) -> dict[str, Any]:
    return {f"{kind}_id": ident, "status": status,
            "status_url": f"/v1/compliance/{kind}s/{ident}"}


@endpoint(bp, "POST", "/v1/compliance/checks", scope=WRITE, body=CheckIn, status=202,
          response=WorkAccepted,
          summary="Check a transaction against the AML rules (check_id is idempotent)")
def submit_check(ctx: Context, body: CheckIn) -> Reply:
    accepted = aml.accept_check(ctx.session, ctx.settings.asset_decimals, now=_now(),
                                **body.model_dump())
    status = aml.get_check(ctx.session, accepted.check_id).status
    if status == "pending":  # a replay re-sends: the first send may have been lost
        ctx.after_commit(send_check, accepted.check_id)
    return Reply(202, _accepted("check", accepted.check_id, status))


@endpoint(bp, "GET", "/v1/compliance/checks/{check_id}", response=AmlCheckView, scope=READ,
          summary="A check's score, level, every rule that fired with its evidence")
def get_check(ctx: Context, check_id: str) -> Reply:
    return Reply(200, aml.check_view(aml.get_check(ctx.session, check_id)))


@endpoint(bp, "GET", "/v1/compliance/aml-alerts", response=AmlAlertList, scope=READ,
          summary="Alerts, newest first; filter with ?party= &status= &kind= &limit=",
          operation_id="listAmlAlerts",
          query=(Query("party", "Only this party's alerts"),
                 Query("status", "open, investigating, resolved or false_positive"),
                 Query("kind", "The rule kind that raised the alert"),
                 Query("limit", "At most this many (default 100)",
                       {"type": "integer", "minimum": 1, "maximum": 1000})))
def list_alerts(ctx: Context) -> Reply:
    args = request.args
    limit = int(args["limit"]) if args.get("limit", "").isdigit() else 100
    found = alerts.list_alerts(ctx.session, party=args.get("party"), status=args.get("status"),
                               kind=args.get("kind"), limit=limit)
    return Reply(200, {"alerts": [alerts.alert_view(a) for a in found]})


@endpoint(bp, "GET", "/v1/compliance/aml-alerts/{alert_id}", scope=READ, summary="An alert",
          response=AmlAlertView,
          operation_id="getAmlAlert")
def get_alert(ctx: Context, alert_id: str) -> Reply:
    return Reply(200, alerts.alert_view(alerts.get_alert(ctx.session, alert_id)))


@endpoint(bp, "POST", "/v1/compliance/aml-alerts/{alert_id}/transitions", scope=WRITE,
          response=AmlAlertView,
          body=TransitionIn, summary="open → investigating → resolved | false_positive",
          operation_id="transitionAmlAlert",
          examples={"Investigate": {"to": "investigating", "reviewer": "officer-7"}})
def transition_alert(ctx: Context, body: TransitionIn, alert_id: str) -> Reply:
    alert = alerts.transition_alert(ctx.session, alert_id, to=body.to, reason=body.reason,
                                    reviewer=body.reviewer, now=_now())
    return Reply(200, alerts.alert_view(alert))


@endpoint(bp, "POST", "/v1/compliance/screenings", scope=WRITE, body=ScreeningIn, status=202,
          response=WorkAccepted,
          summary="Screen a party's names and crypto addresses against the sanctions list")
def submit_screening(ctx: Context, body: ScreeningIn) -> Reply:
    """Queues the screening; its decision (clear, review, blocked) feeds the party's
    compliance gate. Follow status_url."""
    attributes = screening.clean_attributes(
        date_of_birth=body.date_of_birth.isoformat() if body.date_of_birth else None,
        birth_year=body.birth_year, nationality=body.nationality, entity_type=body.entity_type)
    requested = screening.request_screening(
        ctx.session, pii_cipher(ctx.settings), party=body.party, names=body.names,
        addresses=body.addresses, screening_id=body.screening_id, attributes=attributes)
    status = screening.get_screening(ctx.session, requested.screening_id).status
    if status == "pending":
        ctx.after_commit(send_screening, requested.screening_id)
    return Reply(202, _accepted("screening", requested.screening_id, status))


@endpoint(bp, "GET", "/v1/compliance/screenings/{screening_id}", scope=READ,
          response=ScreeningView,
          summary="A screening: decision and hits (entry uid, matched name, version, score)")
def get_screening(ctx: Context, screening_id: str) -> Reply:
    return Reply(200, screening.screening_view(screening.get_screening(ctx.session,
                                                                       screening_id)))


@endpoint(bp, "POST", "/v1/compliance/screenings/{screening_id}/reviews", scope=WRITE,
          response=ScreeningReviewView,
          body=ScreeningReviewIn, status=201,
          summary="Dismiss or confirm a possible hit of the party's latest screening, with a "
                  "note; the gate follows the decision")
def review_screening_hit(ctx: Context, body: ScreeningReviewIn, screening_id: str) -> Reply:
    review = reviews.review_hit(
        ctx.session, screening_id, action=body.action, note=body.note,
        reviewer=body.reviewer or ctx.principal.name, now=_now(), entry_uid=body.entry_uid,
        list_source=body.list, query=body.query, api_key_id=ctx.principal.key_id,
        review_id=body.review_id)
    return Reply(201, review)


@endpoint(bp, "GET", "/v1/compliance/screenings/{screening_id}/reviews", scope=READ,
          response=ScreeningReviewList,
          summary="The review history of the screening's party, oldest first")
def list_screening_reviews(ctx: Context, screening_id: str) -> Reply:
    return Reply(200, {"reviews": [reviews.review_view(r)
                                   for r in reviews.reviews_of(ctx.session, screening_id)]})


@endpoint(bp, "GET", "/v1/compliance/gate/{party}", response=GateView, scope=READ,
          summary="The compliance gate for a party: clear, review or blocked, with reasons")
def get_gate(ctx: Context, party: str) -> Reply:
    return Reply(200, gate.party_gate(ctx.session, party, ctx.settings).as_dict())


@endpoint(bp, "GET", "/v1/compliance/sanctions/lists/active", scope=READ,
          response=SanctionsListView,
          summary="The active SDN list version, every active list, the latest re-screen runs",
          operation_id="getActiveSanctionsList")
def get_active_list(ctx: Context) -> Reply:
    active = lists.active_version(ctx.session)
    if active is None:
        raise NotFound("no sanctions list is loaded", code="no_sanctions_list")
    runs = [rescreen.run_view(r) for r in rescreen.latest_runs(ctx.session, limit=5)]
    every = [lists.version_summary(ctx.session, v.version_id)
             for v in lists.active_versions(ctx.session)]
    return Reply(200, {**lists.version_summary(ctx.session, active.version_id),
                       "lists": every, "rescreens": runs})


@endpoint(bp, "GET", "/v1/compliance/rescreens/{run_id}", response=RescreenView, scope=READ,
          summary="Progress of a batch re-screen")
def get_rescreen(ctx: Context, run_id: str) -> Reply:
    return Reply(200, rescreen.progress(ctx.session, run_id))
