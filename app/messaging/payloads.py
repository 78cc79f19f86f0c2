"""Typed payloads of the inbound event types (DOMAIN.md §1). Extra fields are kept, not refused:
producers add fields over time, and the raw event is stored anyway. No text anywhere in a
payload (a field, an extra field, a key, a nested value) may hold a NUL: PostgreSQL's text and
jsonb cannot store one, and a message that fails at every insert would be retried forever."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

Address = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1,
                                           max_length=200)]
BaseUnits = Annotated[str, StringConstraints(pattern=r"^(0|[1-9]\d{0,77})$"),
                      BeforeValidator(lambda v: str(v) if isinstance(v, int) else v)]
PlainDecimal = Annotated[str, StringConstraints(pattern=r"^(0|[1-9]\d{0,19})(\.\d{1,18})?$"),
                         BeforeValidator(lambda v: str(v) if isinstance(v, int) else v)]
ZERO_ADDRESS = "0x" + "0" * 40


def nul_at(value: Any, path: str = "") -> str | None:
    """Where the first NUL character in a JSON value is (a dotted path), or None."""
    if isinstance(value, str):
        return (path or "(value)") if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                return here
            found = nul_at(item, here)
            if found is not None:
                return found
    if isinstance(value, list):
        for n, item in enumerate(value):
            found = nul_at(item, f"{path}[{n}]")
            if found is not None:
                return found
    return None


class Payload(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        where = nul_at(data)
        if where is not None:
            raise ValueError(f"{where!r} contains a NUL character (\\u0000)")
        return data


class ChainFacts(Payload):
    transaction_hash: str | None = None
    block_number: int | None = None
    log_index: int | None = None
    chain_id: int | None = None


class EscrowTerms(ChainFacts):
    @model_validator(mode="after")
    def _guards(self) -> EscrowTerms:
        # The same guards as an API escrow (DOMAIN.md §2), checked before anything is stored.
        payer, payee = getattr(self, "payer", None), getattr(self, "payee", None)
        if payer == payee:
            raise ValueError("payer and payee must differ")
        if int(getattr(self, "amount", "0")) <= 0:
            raise ValueError("amount must be greater than zero")
        return self


class EscrowDeployed(EscrowTerms):
    escrow: Address
    payer: Address
    payee: Address
    amount: BaseUnits
    release_delay: int = Field(alias="releaseDelay", ge=0)
    approvals_required: int = Field(alias="approvalsRequired", ge=1, le=3)
    arbiter: Address | None = None


class EscrowCreated(EscrowTerms):
    contract_address: Address
    payer: Address
    payee: Address
    amount: BaseUnits
    release_time: AwareDatetime | int
    approvals_required: int = Field(ge=1, le=3)
    arbiter: Address | None = None


class Approved(ChainFacts):
    contract_address: Address
    approver: Address


class EscrowReleased(ChainFacts):
    contract_address: Address
    payee: Address
    amount: BaseUnits


class EscrowRefunded(ChainFacts):
    contract_address: Address
    payer: Address
    amount: BaseUnits


class SettlementStatus(Payload):
    command_id: str = Field(min_length=1, max_length=200)
    status_reason: str | None = None
    occurred_at: AwareDatetime | None = None


class PriceUpdated(Payload):
    asset_symbol: Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True,
                                                   min_length=1, max_length=16)]
    price_usd: PlainDecimal
    source: str | None = None
    # A naive time is ambiguous (whose midnight?): refused, so it lands in the dead letters.
    timestamp: AwareDatetime


class MarginAlert(Payload):
    event_id: str
    event_type: str
    account_id: str
    status: str
    severity: str
    health_score: Any = None
    occurred_at: AwareDatetime | None = None


PAYLOADS: dict[str, type[Payload]] = {
    "EscrowDeployed": EscrowDeployed,
    "EscrowCreated": EscrowCreated,
    "Approved": Approved,
    "EscrowReleased": EscrowReleased,
    "EscrowRefunded": EscrowRefunded,
    "SettlementInitiated": SettlementStatus,
    "SettlementConfirmed": SettlementStatus,
    "SettlementFailed": SettlementStatus,
    "PriceUpdated": PriceUpdated,
    "margin_warning": MarginAlert,
    "margin_call": MarginAlert,
    "liquidation_imminent": MarginAlert,
    "margin_recovered": MarginAlert,
}
