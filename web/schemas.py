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
