"""Response bodies of the compliance, risk, alerts and admin routes, for /openapi.json. Their
handlers build the bodies in app.services; these models describe them (and schemathesis checks
that what the API returns matches)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


def _examples(*values: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": list(values)})


class KycVerification(BaseModel):
    score: str = Field(description="Verification score 0-100, two decimals")
    photo_quality: str
    data_complete: bool
    email_verified: bool
    phone_verified: bool


class KycHistoryEntry(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: str | None = Field(alias="from", description="Status before the move")
    to: str = Field(description="Status after it")
    reason: str | None
    reviewer: str | None
    at: str = Field(description="When (ISO 8601)")


class KycCaseView(BaseModel):
    model_config = _examples({
        "case_id": "kyc-7f3a", "party": "alice", "status": "pending",
        "document_type": "passport", "allowed_transitions": ["in_review"],
        "verification": {"score": "85.00", "photo_quality": "high", "data_complete": True,
                         "email_verified": True, "phone_verified": False},
        "history": [], "personal_data_on_file": ["date_of_birth", "full_name", "nationality"],
        "opened_at": "2026-01-05T09:30:00+00:00", "decided_at": None})

    case_id: str
    party: str = Field(description="The account id (or chain address) the case is about")
    status: str = Field(description="pending, in_review, approved, rejected, ...")
    document_type: str
    allowed_transitions: list[str] = Field(description="Statuses the case may move to next")
    verification: KycVerification
    history: list[KycHistoryEntry] = Field(description="Every move, oldest first")
    personal_data_on_file: list[str] = Field(description="Which personal fields are stored "
                                                         "(encrypted); values only on reveal")
    opened_at: str
    decided_at: str | None
    personal_data: dict[str, Any] | None = Field(
        default=None, description="Only with ?reveal=personal_data (needs compliance:write)")


class WorkAccepted(BaseModel):
    """A check or screening taken for a worker: poll status_url."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{
        "screening_id": "scr-91c2", "status": "pending",
        "status_url": "/v1/compliance/screenings/scr-91c2"}]})

    status: str = Field(description="pending until the worker has run, then its outcome")
    status_url: str = Field(description="Where to read the result")


class ScreeningView(BaseModel):
    model_config = _examples({
        "screening_id": "scr-91c2", "party": "alice", "source": "api", "status": "completed",
        "decision": "clear", "list_version": 3, "hits": [],
        "screened": {"names": 1, "addresses": 0, "list_loaded": True},
        "requested_at": "2026-01-05T09:30:00+00:00",
        "completed_at": "2026-01-05T09:30:01+00:00"})

    screening_id: str
    party: str
    source: str = Field(description="Who asked: api, kyc, rescreen")
    status: str = Field(description="pending or completed")
    decision: str | None = Field(description="clear, review or blocked, once completed")
    list_version: int | None = Field(description="The sanctions list version screened against")
    hits: list[dict[str, Any]] = Field(description="Entry uid, matched name, version, score")
    screened: dict[str, Any] | None = Field(description="How many names and addresses were "
                                                        "screened, and whether a list was loaded")
    requested_at: str | None
    completed_at: str | None


class PriceRecorded(BaseModel):
    model_config = _examples({"asset": "ETH", "asset_symbol": "ETH", "price_usd": "3120.55",
                              "timestamp": "2026-01-05T09:30:00+00:00", "outcome": "latest",
                              "recompute_queued": True})

    asset: str = Field(description="The asset symbol")
    asset_symbol: str = Field(description="Deprecated: the same as `asset`", deprecated=True)
    price_usd: str
    timestamp: str
    outcome: str = Field(description="latest, historical (older than the latest) or duplicate")
    recompute_queued: bool = Field(description="Whether holders' margin is being recomputed")


class PriceView(BaseModel):
    model_config = _examples({"asset": "ETH", "asset_symbol": "ETH", "price_usd": "3120.55",
                              "timestamp": "2026-01-05T09:30:00+00:00", "source": "feed-a",
                              "age_seconds": 12.5, "stale": False})

    asset: str
    asset_symbol: str = Field(description="Deprecated: the same as `asset`", deprecated=True)
    price_usd: str
    timestamp: str
    source: str | None
    age_seconds: float
    stale: bool = Field(description="Older than PRICE_MAX_AGE: margin treats it as missing")


class PositionView(BaseModel):
    asset: str
    collateral: str = Field(description="Quantity pledged as collateral")
    borrowed: str = Field(description="Quantity borrowed")
    escrowed: str = Field(description="Quantity held in open escrows")


class RiskAccountView(BaseModel):
    model_config = _examples({
        "account_id": "alice", "status": "HEALTHY", "health_score": "104.00",
        "calculated_at": "2026-01-05T09:30:01+00:00",
        "positions": [{"asset": "ETH", "collateral": "5", "borrowed": "0", "escrowed": "0"},
                      {"asset": "USD", "collateral": "0", "borrowed": "15000.00",
                       "escrowed": "0"}]})

    account_id: str
    status: str | None = Field(description="HEALTHY, WARNING, MARGIN_CALL, LIQUIDATION or "
                                           "UNKNOWN; null until first calculated")
    health_score: str | None = Field(description="(C - B) / B * 100; null while UNKNOWN")
    calculated_at: str | None
    positions: list[PositionView]


class WebhookView(BaseModel):
    model_config = _examples({
        "id": "wh-4b1e", "url": "https://example.com/hook", "event_types": ["margin_call"],
        "description": "risk desk", "created_at": "2026-01-05T09:30:00+00:00",
        "secret_rotated_at": None, "secret": "whsec_9f..."})

    id: str
    url: str
    event_types: list[str]
    description: str | None
    created_at: str
    secret_rotated_at: str | None
    secret: str | None = Field(default=None, description="The signing secret: only in the "
                                                         "answer that creates or rotates it")


class WebhookList(BaseModel):
    model_config = _examples({"webhooks": [WebhookView.model_config["json_schema_extra"][
        "examples"][0]]})  # type: ignore[index]

    webhooks: list[WebhookView]


class QuietHoursView(BaseModel):
    start: str = Field(description="HH:MM")
    end: str = Field(description="HH:MM")


class PreferencesView(BaseModel):
    model_config = _examples({"account_id": "alice", "channels": ["email", "webhook"],
                              "email": "risk@example.com", "timezone": "Europe/Paris",
                              "quiet_hours": {"start": "22:00", "end": "07:00"}})

    account_id: str
    channels: list[str]
    email: str | None
    timezone: str
    quiet_hours: QuietHoursView | None


class ReplayAccepted(BaseModel):
    model_config = _examples({"dead_letter_id": "dl-12", "task_id": "settlement-ev:abc",
                              "task_name": "settlement.apply_chain_event"})

    dead_letter_id: str
    task_id: str
    task_name: str


class _Open(BaseModel):
    """A body whose main fields are listed here; the service may add more."""

    model_config = ConfigDict(extra="allow")


def _open_examples(*values: dict[str, Any]) -> ConfigDict:
    return ConfigDict(extra="allow", json_schema_extra={"examples": list(values)})


class AmlCheckView(_Open):
    model_config = _open_examples({
        "check_id": "chk-0001", "status": "completed", "party": "alice", "counterparty": "bob",
        "amount": "9500", "asset": "USD", "type": "external_transfer", "country": "DE",
        "occurred_at": "2026-01-05T09:30:00+00:00", "score": "35.00", "level": "medium",
        "rules": [{"rule": "structuring", "score": 35}], "alert_id": None})

    check_id: str
    status: str = Field(description="pending or completed")
    score: str | None = Field(description="Risk score 0-100 once completed")
    level: str | None = Field(description="low, medium, high or critical")
    rules: list[Any] = Field(description="Every rule that fired, with its evidence")


class AmlAlertView(_Open):
    model_config = _open_examples({
        "alert_id": "al-31", "kind": "structuring", "party": "alice", "level": "high",
        "status": "open", "check_id": "chk-0001", "details": {}, "history": [],
        "opened_at": "2026-01-05T09:30:01+00:00", "updated_at": "2026-01-05T09:30:01+00:00"})

    alert_id: str
    kind: str
    party: str
    level: str
    status: str = Field(description="open, investigating, resolved or false_positive")


class AmlAlertList(BaseModel):
    model_config = _examples({"alerts": [AmlAlertView.model_config["json_schema_extra"][
        "examples"][0]]})  # type: ignore[index]

    alerts: list[AmlAlertView]


class GateReasonView(_Open):
    code: str
    status: str
    detail: str


class GateView(BaseModel):
    model_config = _examples({"party": "alice", "status": "review", "reasons": [
        {"code": "kyc_not_approved", "status": "review", "detail": "KYC case pending",
         "refs": {}}]})

    party: str
    status: str = Field(description="clear, review or blocked: the worst of the reasons")
    reasons: list[GateReasonView]


class SanctionsListView(_Open):
    model_config = _open_examples({"list_version": 3, "source": "ofac-sdn",
                                   "status": "active", "entries": 12000,
                                   "loaded_at": "2026-01-04T00:00:00+00:00", "rescreens": []})

    rescreens: list[dict[str, Any]] = Field(description="The latest re-screen runs")


class RescreenView(_Open):
    model_config = _open_examples({"run_id": "rs-9", "status": "running", "total_parties": 900,
                                   "parties_done": 300})

    run_id: str
    status: str


class MarginHealthView(_Open):
    model_config = _open_examples({
        "account_id": "alice", "status": "WARNING", "health_score": "42.00",
        "total_collateral_usd": "21300.00", "total_borrow_usd": "15000.00",
        "calculated_at": "2026-01-05T09:30:01+00:00", "age_seconds": 3.2})

    account_id: str
    status: str = Field(description="HEALTHY, WARNING, MARGIN_CALL, LIQUIDATION or UNKNOWN")


class MarginRecalculation(BaseModel):
    model_config = _examples({"account_id": "alice", "task_id": "risk-margin:alice:ab12",
                              "status_url": "/v1/risk/accounts/alice/margin-health"})

    account_id: str
    task_id: str
    status_url: str


class MarginEvents(BaseModel):
    model_config = _examples({"account_id": "alice", "events": [{
        "event_id": "ev-1", "event_type": "margin_warning", "severity": "medium",
        "status": "WARNING", "previous_status": "HEALTHY"}]})

    account_id: str
    events: list[dict[str, Any]] = Field(description="Status changes, newest first")


class CalculationAccepted(BaseModel):
    model_config = _examples({"calculation_id": "calc-5", "status": "pending",
                              "status_url": "/v1/risk/calculations/calc-5"})

    calculation_id: str
    status: str
    status_url: str


class CalculationView(_Open):
    model_config = _open_examples({"calculation_id": "calc-5", "status": "completed",
                                   "account_id": "alice", "result": {"var": {}}})

    calculation_id: str
    status: str = Field(description="pending, completed or failed")
    result: dict[str, Any] | None = Field(description="VaR/CVaR per horizon and stress "
                                                      "results, once completed")


class RiskBatchAccepted(BaseModel):
    model_config = _examples({"batch_id": "rb-12", "total": 1200, "chunks": 3,
                              "status_url": "/v1/risk/batches/rb-12"})

    batch_id: str
    total: int
    chunks: int
    status_url: str


class RiskBatchProgress(_Open):
    model_config = _open_examples({"batch_id": "rb-12", "status": "running", "total": 1200,
                                   "done": 400, "failed": 0, "rate_per_second": 800.0,
                                   "eta_seconds": 1.0})

    batch_id: str
    status: str
    total: int
    done: int
    failed: int


class DeadLetterView(_Open):
    model_config = _open_examples({
        "id": "dl-12", "subscription": "settlement-events", "message_id": "4711",
        "reason": "invalid_payload", "detail": "approvalsRequired: must be 1-3",
        "attributes": {}, "received_at": "2026-01-05T09:30:00+00:00", "replayed_at": None,
        "replay_count": 0, "size": 312})

    id: str
    reason: str = Field(description="Why it was refused (invalid_payload, oversize, ...)")
    detail: str | None


class DeadLetterList(BaseModel):
    model_config = _examples({"dead_letters": [DeadLetterView.model_config[
        "json_schema_extra"]["examples"][0]]})  # type: ignore[index]

    dead_letters: list[DeadLetterView]


class Deleted(BaseModel):
    model_config = _examples({"id": "wh-4b1e", "deleted": True})

    id: str
    deleted: bool


class DeliveryView(_Open):
    id: str
    status: str = Field(description="pending, delivered, failed, skipped, ...")
    attempts: list[dict[str, Any]] = Field(description="Every attempt: status code, error, "
                                                       "latency")


class DeliveryList(BaseModel):
    model_config = _examples({"deliveries": [{"id": "d-1", "status": "delivered",
                                              "attempts": [{"attempt": 1, "status_code": 200}]}]})

    deliveries: list[DeliveryView]


class RedeliveryAccepted(BaseModel):
    model_config = _examples({"id": "d-1", "status": "pending"})

    id: str
    status: str


class Liveness(BaseModel):
    model_config = _examples({"status": "ok"})

    status: str = Field(description="ok")


class Readiness(BaseModel):
    model_config = _examples({"status": "ready", "checks": {"database": "up", "broker": "up"}})

    status: str = Field(description="ready or unavailable")
    checks: dict[str, str] = Field(description="up, or `down: <error kind>`, per dependency")
    down: list[str] | None = Field(default=None, description="The dependencies that are down")


class CommandPage(BaseModel):
    model_config = _examples({"commands": [{
        "command_id": "dvp-2026-0001", "type": "DVP", "status": "settled", "reason": None,
        "reason_detail": None, "escrow_id": None, "workflow_id": "trade-88412",
        "received_at": "2026-01-05T09:30:00Z", "validated_at": "2026-01-05T09:30:00Z",
        "settling_at": "2026-01-05T09:30:00Z", "settled_at": "2026-01-05T09:30:01Z",
        "failed_at": None}], "next_cursor": None})

    commands: list[dict[str, Any]] = Field(description="Command views, newest first")
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page")


class MarginHistory(BaseModel):
    model_config = _examples({"account_id": "alice", "snapshots": [], "events": [],
                              "truncated": False})

    account_id: str
    snapshots: list[dict[str, Any]] = Field(description="Margin-health snapshots, oldest "
                                                        "first")
    events: list[dict[str, Any]] = Field(description="Margin events among them")
    truncated: bool = Field(description="Only the newest 2000 snapshots are shown")


class ScreeningReviewView(_Open):
    model_config = _open_examples({
        "review_id": "rv-3", "screening_id": "scr-91c2", "party": "alice", "list": "OFAC-SDN",
        "entry_uid": 36, "query": None, "action": "dismiss", "note": "different date of birth",
        "reviewer": "officer-7", "api_key_id": "a1b2c3", "result_screening_id": "scr-91c3",
        "decided_at": "2026-01-05T10:00:00+00:00"})

    review_id: str
    action: str = Field(description="dismiss or confirm")
    note: str


class ScreeningReviewList(BaseModel):
    model_config = _examples({"reviews": []})

    reviews: list[ScreeningReviewView]
