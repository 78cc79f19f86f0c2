"""Request and response bodies. Amounts are JSON strings; unknown fields are refused."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, StrictStr

AmountText = StrictStr  # parsed by app.domain.money: plain positive decimal, asset precision
Party = StrictStr


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CreateEscrow(Request):
    payer: Party
    payee: Party
    arbiter: Party | None = None
    amount: AmountText = Field(examples=["1250.00"])
    asset: StrictStr = Field(examples=["USD"])
    release_delay_seconds: StrictInt = Field(ge=0, le=10 * 365 * 24 * 3600)
    approvals_required: StrictInt = Field(ge=1, le=3)


class Approve(Request):
    approver: Party


class Refund(Request):
    requested_by: Party


class Release(Request):
    pass


class Deposit(Request):
    account_id: Party
    asset: StrictStr
    amount: AmountText


class SettlementCommand(Request):
    command_id: StrictStr = Field(min_length=1, max_length=200)
    type: Literal["DVP", "COLLATERAL_TRANSFER"]
    workflow_id: StrictStr = Field(min_length=1, max_length=200)
    account_ref: StrictStr = Field(min_length=1, max_length=200)
    payer: Party
    payee: Party
    asset: StrictStr
    amount: AmountText
    deadline: AwareDatetime
    counter_asset: StrictStr | None = None
    counter_amount: AmountText | None = None


class SettlementCommandBatch(Request):
    # Items are checked one by one (each as a SettlementCommand), so one bad item is refused
    # alone instead of refusing the whole batch.
    commands: list[Any] = Field(min_length=1, max_length=1000,
                                description="each item: the body of a SettlementCommand")


class BatchItemAccepted(BaseModel):
    command_id: str | None
    status: Literal["accepted", "rejected"]
    problem: dict[str, Any] | None = None


class BatchAcceptedResponse(BaseModel):
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
    batch_id: str
    created_at: datetime
    item_count: int
    accepted_count: int
    rejected_count: int
    counts: dict[str, int]
    items: list[BatchItemView]
    next_cursor: str | None = None


class AcceptedResponse(BaseModel):
    command_id: str
    task_id: str
    status_url: str
    escrow_id: str | None = None
    escrow_url: str | None = None


class CommandView(BaseModel):
    command_id: str
    type: str
    status: str
    reason: str | None
    reason_detail: str | None
    escrow_id: str | None
    workflow_id: str | None
    received_at: datetime
    validated_at: datetime | None
    settling_at: datetime | None
    settled_at: datetime | None
    failed_at: datetime | None
    settled_by: str | None = None


class ApprovalView(BaseModel):
    approver: str
    approved_at: datetime


class EscrowView(BaseModel):
    escrow_id: str
    status: str
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
    account_id: str
    balances: list[BalanceView]


class TaskView(BaseModel):
    task_id: str
    state: str
    result: dict[str, object] | None = None
    error: str | None = None
