"""Request and response bodies. Amounts are JSON strings; unknown fields are refused."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    field_validator,
)

AmountText = StrictStr  # parsed by app.domain.money: plain positive decimal, asset precision
Party = StrictStr


NUL = "\x00"


def has_nul(value: object) -> bool:
    """True when any text in a JSON value (keys included) holds a NUL character."""
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(v) for v in value)
    return False


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # PostgreSQL text cannot store NUL: refused here, for every body, not per route.
        if has_nul(value):
            raise ValueError("text must not contain a NUL character")
        return value


class CreateEscrow(Request):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "payer": "alice", "payee": "bob", "amount": "1250.00", "asset": "USD",
        "release_delay_seconds": 0, "approvals_required": 2}]})

    payer: Party = Field(description="Account whose balance funds the escrow (held, not "
                                     "moved, until release or refund)", examples=["alice"])
    payee: Party = Field(description="Account paid on release", examples=["bob"])
    arbiter: Party | None = Field(default=None, description="A third approver; required "
                                                            "when approvals_required is 3")
    amount: AmountText = Field(description="Decimal string, at most the asset's decimals",
                               examples=["1250.00"])
    asset: StrictStr = Field(description="Asset code (USD, EUR, ETH, ...)", examples=["USD"])
    release_delay_seconds: StrictInt = Field(
        ge=0, le=10 * 365 * 24 * 3600, description="Seconds from creation before a release "
        "is allowed; a refund needs this plus the refund grace", examples=[0])
    approvals_required: StrictInt = Field(ge=1, le=3, description="How many of payer, payee "
                                          "and arbiter must approve before release",
                                          examples=[2])


class Approve(Request):
    model_config = ConfigDict(json_schema_extra={"examples": [{"approver": "alice"}]})

    approver: Party = Field(description="The payer, payee or arbiter approving; each counts "
                                        "once")


class Refund(Request):
    model_config = ConfigDict(json_schema_extra={"examples": [{"requested_by": "alice"}]})

    requested_by: Party = Field(description="The payer: only they may ask for a refund")


class Release(Request):
    """No fields: the escrow's terms decide where the money goes."""

    model_config = ConfigDict(json_schema_extra={"examples": [{}]})


class Deposit(Request):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"account_id": "alice", "asset": "USD", "amount": "5000.00"}]})

    account_id: Party = Field(description="The customer account credited", examples=["alice"])
    asset: StrictStr = Field(description="Asset code", examples=["USD"])
    amount: AmountText = Field(description="Decimal string", examples=["5000.00"])


DVP_EXAMPLE: dict[str, Any] = {
    "command_id": "dvp-2026-0001", "type": "DVP", "workflow_id": "trade-88412",
    "account_ref": "desk-emea-1", "payer": "alice", "payee": "bob", "asset": "USD",
    "amount": "3120.55", "counter_asset": "ETH", "counter_amount": "1.5",
    "deadline": "2030-01-01T00:00:00Z"}
COLLATERAL_EXAMPLE: dict[str, Any] = {
    "command_id": "col-2026-0001", "type": "COLLATERAL_TRANSFER",
    "workflow_id": "margin-call-5531", "account_ref": "desk-emea-1", "payer": "alice",
    "payee": "bob", "asset": "USD", "amount": "250.00", "deadline": "2030-01-01T00:00:00Z"}


class SettlementCommand(Request):
    model_config = ConfigDict(json_schema_extra={"examples": [dict(DVP_EXAMPLE),
                                                              dict(COLLATERAL_EXAMPLE)]})

    command_id: StrictStr = Field(min_length=1, max_length=200, description=(
        "Your id for this command and its idempotency key: sending it again returns the "
        "first answer"), examples=["dvp-2026-0001"])
    type: Literal["DVP", "COLLATERAL_TRANSFER"] = Field(description=(
        "DVP: payment and delivery legs settle together or not at all; COLLATERAL_TRANSFER: "
        "one leg"))
    workflow_id: StrictStr = Field(min_length=1, max_length=200, description=(
        "Your id of the business workflow (trade, margin call) this command belongs to; "
        "opaque here, stored on the command and carried on its outcome event so you can "
        "correlate the result"), examples=["trade-88412"])
    account_ref: StrictStr = Field(min_length=1, max_length=200, description=(
        "Your reference of the book or client account this settlement is booked for; "
        "opaque here (it is not a ledger account: the legs move between payer and payee)"),
        examples=["desk-emea-1"])
    payer: Party = Field(description="Ledger account that pays `amount` of `asset`",
                         examples=["alice"])
    payee: Party = Field(description="Ledger account that receives it (and, in a DVP, "
                                     "delivers the counter leg)", examples=["bob"])
    asset: StrictStr = Field(description="Asset of the payment leg", examples=["USD"])
    amount: AmountText = Field(description="Decimal string", examples=["3120.55"])
    deadline: AwareDatetime = Field(description="With an offset; a command not settled by "
                                                "then fails with deadline_passed")
    counter_asset: StrictStr | None = Field(default=None, description=(
        "DVP only: the asset the payee delivers to the payer"), examples=["ETH"])
    counter_amount: AmountText | None = Field(default=None, description=(
        "DVP only: how much of counter_asset"), examples=["1.5"])


class SettlementCommandBatch(Request):
    model_config = ConfigDict(json_schema_extra={"examples": [{"commands": [
        dict(DVP_EXAMPLE), dict(COLLATERAL_EXAMPLE)]}]})

    # Items are checked one by one (each as a SettlementCommand), so one bad item is refused
    # alone instead of refusing the whole batch.
    commands: list[Any] = Field(min_length=1, max_length=1000,
                                description="each item: the body of a SettlementCommand")


class BatchItemAccepted(BaseModel):
    command_id: str | None
    status: Literal["accepted", "rejected"]
    problem: dict[str, Any] | None = None


class BatchAcceptedResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "batch_id": "cb-7a1f", "status_url": "/v1/settlement/command-batches/cb-7a1f",
        "items": [{"command_id": "dvp-2026-0001", "status": "accepted"},
                  {"command_id": "col-2026-0001", "status": "accepted"}]}]})

    batch_id: str
    status_url: str
    items: list[BatchItemAccepted]


class BatchItemView(BaseModel):
    position: int
    command_id: str
    status: str
    reason: str | None
    reason_detail: str | None
    settled_by: str | None
    settled_at: datetime | None
    failed_at: datetime | None


class BatchView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "batch_id": "cb-7a1f", "created_at": "2026-01-05T09:30:00Z", "item_count": 2,
        "accepted_count": 2, "rejected_count": 0, "counts": {"settled": 2},
        "items": [{"position": 0, "command_id": "dvp-2026-0001", "status": "settled",
                   "reason": None, "reason_detail": None, "settled_by": "batch",
                   "settled_at": "2026-01-05T09:30:01Z", "failed_at": None}],
        "next_cursor": None}]})

    batch_id: str
    created_at: datetime
    item_count: int
    accepted_count: int
    rejected_count: int
    counts: dict[str, int]
    items: list[BatchItemView]
    next_cursor: str | None = None


class AcceptedResponse(BaseModel):
    """A command stored and queued: it runs in a worker; poll status_url."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "command_id": "dvp-2026-0001", "task_id": "dvp-2026-0001",
        "status_url": "/v1/settlement/commands/dvp-2026-0001"}]})

    command_id: str = Field(description="The command's id")
    task_id: str = Field(description="Its Celery task id (see /v1/tasks/{task_id})")
    status_url: str = Field(description="Where to follow the command")
    escrow_id: str | None = Field(default=None, description="Escrow commands only")
    escrow_url: str | None = Field(default=None, description="Escrow commands only")


_COMMAND_EXAMPLE: dict[str, Any] = {
    "command_id": "dvp-2026-0001", "type": "DVP", "status": "settled", "reason": None,
    "reason_detail": None, "escrow_id": None, "workflow_id": "trade-88412",
    "received_at": "2026-01-05T09:30:00.120000Z", "validated_at": "2026-01-05T09:30:00.180000Z",
    "settling_at": "2026-01-05T09:30:00.190000Z", "settled_at": "2026-01-05T09:30:00.230000Z",
    "failed_at": None}


class CommandView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_COMMAND_EXAMPLE]})

    command_id: str
    type: str = Field(description="DVP, COLLATERAL_TRANSFER, DEPOSIT, ESCROW_CREATE, ...")
    status: str = Field(description="received → validated → settling → settled | failed")
    reason: str | None = Field(description="Why it failed or is held (a stable code)")
    reason_detail: str | None = Field(description="The reason, for people")
    escrow_id: str | None
    workflow_id: str | None = Field(description="The workflow_id it was submitted with")
    received_at: datetime = Field(description="When the API stored it")
    validated_at: datetime | None
    settling_at: datetime | None
    settled_at: datetime | None
    failed_at: datetime | None
    settled_by: str | None = Field(default=None,
                                   description="The batch or task that made it terminal")
    next_retry_at: datetime | None = Field(
        default=None, description="A held command: when the sweeper offers it again "
                                  "(GET /v1/settlement/commands/{id} only)")


class ApprovalView(BaseModel):
    approver: str
    approved_at: datetime


class EscrowView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "escrow_id": "esc-5e1d", "status": "approved", "reason": None, "payer": "alice",
        "payee": "bob", "arbiter": None, "amount": "1250.00", "asset": "USD",
        "approvals_required": 2,
        "approvals": [{"approver": "alice", "approved_at": "2026-01-05T09:31:00Z"},
                      {"approver": "bob", "approved_at": "2026-01-05T09:32:00Z"}],
        "release_time": "2026-01-05T09:30:00Z", "contract_address": None,
        "hold_reason": None, "created_at": "2026-01-05T09:30:00Z", "commands": []}]})

    escrow_id: str
    status: str = Field(description="pending, created, approved, released, refunded, failed")
    reason: str | None = None
    payer: str | None = None
    payee: str | None = None
    arbiter: str | None = None
    amount: str | None = None
    asset: str | None = None
    approvals_required: int | None = None
    approvals: list[ApprovalView] = []
    release_time: datetime | None = None
    contract_address: str | None = None
    hold_reason: str | None = None
    created_at: datetime | None = None
    commands: list[CommandView] = []


class BalanceView(BaseModel):
    asset: str
    posted: str
    pending_debits: str
    pending_credits: str
    available: str


class AccountView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "account_id": "alice", "balances": [{
            "asset": "USD", "posted": "5000.00", "pending_debits": "1250.00",
            "pending_credits": "0.00", "available": "3750.00"}]}]})

    account_id: str
    balances: list[BalanceView]


class TaskView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "task_id": "dvp-2026-0001", "state": "SUCCESS",
        "result": {"command_id": "dvp-2026-0001", "status": "settled"}, "error": None}]})

    task_id: str
    state: str
    result: dict[str, object] | None = None
    error: str | None = None


class ProblemFieldError(BaseModel):
    field: str = Field(description="Where: a body field (`payer`, `personal_data.full_name`), "
                                   "`path.<name>`, `query.<name>` or `body`")
    code: str = Field(description="What, machine-readable (`missing`, `string_type`, ...)")
    message: str = Field(description="What, for people")


class ProblemView(BaseModel):
    """RFC 9457 problem details: every error the API returns."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "type": "https://fusion-prime.dev/problems/validation_failed",
        "title": "Validation failed", "status": 422,
        "detail": "the request body does not match the schema", "code": "validation_failed",
        "errors": [{"field": "amount", "code": "string_type",
                    "message": "Input should be a valid string"}]}]})

    type: str = Field(description="A URI naming the kind of problem")
    title: str = Field(description="A short human-readable summary of the kind")
    status: int = Field(description="The HTTP status code")
    detail: str = Field(description="What went wrong this time")
    code: str = Field(description="The stable machine-readable kind; branch on this")
    errors: list[ProblemFieldError] | None = Field(
        default=None, description="Per-field errors, for validation failures")
