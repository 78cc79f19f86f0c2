"""/v1/risk: prices, accounts and positions, margin health and events, calculations, batches."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from flask import Blueprint, request
from pydantic import AwareDatetime, ConfigDict, Field, StrictInt, StrictStr, model_validator

from app.domain.errors import Conflict, NotFound
from app.domain.risk.inputs import PositionInput, check_symbol, parse_positions, parse_price
from app.services.intake import check_account
from app.services.risk import batch, calculations, margin, prices, views
from app.services.risk.positions import positions_of, replace_positions
from tasks import risk as risk_tasks
from web.endpoint import Context, Query, Reply, endpoint
from web.responses import (
    CalculationAccepted,
    CalculationView,
    MarginEvents,
    MarginHealthView,
    MarginRecalculation,
    PriceRecorded,
    PriceView,
    RiskAccountView,
    RiskBatchAccepted,
    RiskBatchProgress,
)
from web.schemas import Request

bp = Blueprint("risk", __name__)
WRITE, READ = "risk:write", "risk:read"
MAX_EVENTS = 500


class PriceIn(Request):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "asset": "ETH", "price_usd": "3120.55", "source": "feed-a",
        "timestamp": "2026-01-05T09:30:00Z"}]})

    asset: StrictStr | None = Field(default=None, min_length=1, max_length=16,
                                    description="The asset symbol (required)",
                                    examples=["ETH"])
    asset_symbol: StrictStr | None = Field(
        default=None, min_length=1, max_length=16, json_schema_extra={"deprecated": True},
        description="Deprecated: the old name of `asset`, accepted until the next release")
    price_usd: StrictStr = Field(description="Price of one unit in USD, a decimal string",
                                 examples=["3120.55"])
    source: StrictStr | None = Field(default=None, max_length=100,
                                     description="Where the tick came from")
    timestamp: AwareDatetime = Field(description="When the price was observed, with offset")

    @model_validator(mode="after")
    def _one_asset(self) -> PriceIn:
        if self.asset is None and self.asset_symbol is None:
            raise ValueError("asset is required")
        if None not in (self.asset, self.asset_symbol) and self.asset != self.asset_symbol:
            raise ValueError("asset and its deprecated name asset_symbol disagree")
        return self

    @property
    def symbol(self) -> str:
        symbol = self.asset or self.asset_symbol
        assert symbol is not None  # _one_asset refused a body without either
        return symbol


class PositionIn(Request):
    asset: StrictStr = Field(description="Asset symbol", examples=["ETH"])
    collateral: StrictStr = Field(default="0", description="Quantity pledged as collateral",
                                  examples=["5"])
    borrowed: StrictStr = Field(default="0", description="Quantity borrowed",
                                examples=["15000"])


class PositionsIn(Request):
    model_config = ConfigDict(json_schema_extra={"examples": [{"positions": [
        {"asset": "ETH", "collateral": "5", "borrowed": "0"},
        {"asset": "USD", "collateral": "0", "borrowed": "15000"}]}]})

    positions: list[PositionIn] = Field(max_length=100, description=(
        "Every position of the account: assets not listed are removed"))


class CalculationIn(Request):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "account_id": "alice", "confidence": "0.99", "horizons": [1, 7],
        "scenarios": ["crash"]}]})

    account_id: StrictStr | None = None
    positions: list[PositionIn] | None = Field(default=None, max_length=100)
    confidence: StrictStr = Field(default="0.95", examples=["0.99"])
    horizons: list[StrictInt] = Field(default_factory=lambda: [1, 7, 30])
    scenarios: list[StrictStr] | None = Field(default=None, examples=[["crash", "recession"]])


class BatchIn(Request):
    model_config = ConfigDict(json_schema_extra={"examples": [{"scope": "asset",
                                                               "asset": "ETH"}]})

    scope: Literal["all", "asset"]
    asset: StrictStr | None = None


def _now() -> datetime:
    return datetime.now(UTC)


def _account(ctx: Context, account_id: str) -> dict[str, Any]:
    account = margin.get_account(ctx.session, account_id)
    return views.account_view(account, positions_of(ctx.session, account.account_id),
                              ctx.settings.asset_decimals)


@endpoint(bp, "POST", "/v1/risk/prices", scope=WRITE, body=PriceIn, status=201,
          response=PriceRecorded, operation_id="recordPrice",
          summary="Record a price tick (idempotent per asset and timestamp)")
def post_price(ctx: Context, body: PriceIn) -> Reply:
    """A newer tick becomes the latest price and queues a margin recompute of the asset's
    holders; the same tick again is a 200 duplicate, a different price for the same
    timestamp a 409. `asset_symbol` is the deprecated name of `asset`."""
    outcome = prices.record_price(ctx.session, asset=body.symbol,
                                  price_usd=parse_price(body.price_usd),
                                  timestamp=body.timestamp, source=body.source, now=_now())
    if outcome.outcome == "conflict":
        raise Conflict(f"a different {outcome.asset} price is recorded for "
                       f"{outcome.timestamp.isoformat()}", code="price_conflict")
    if outcome.recompute_seq is not None:
        ctx.after_commit(risk_tasks.send_asset_recompute, outcome.asset, outcome.recompute_seq)
    return Reply(200 if outcome.outcome == "duplicate" else 201, outcome.as_dict())


@endpoint(bp, "GET", "/v1/risk/prices/{asset}", scope=READ, summary="The latest price",
          response=PriceView)
def get_price(ctx: Context, asset: str) -> Reply:
    latest = prices.get_latest(ctx.session, check_symbol(asset))
    if latest is None:
        raise NotFound(f"no price for {asset}", code="price_not_found")
    return Reply(200, views.price_view(latest, _now(), ctx.settings.price_max_age_seconds))


@endpoint(bp, "PUT", "/v1/risk/accounts/{account_id}/positions", scope=WRITE, body=PositionsIn,
          response=RiskAccountView, operation_id="replacePositions",
          summary="Replace an account's collateral and borrow quantities; recalculates margin")
def put_positions(ctx: Context, body: PositionsIn, account_id: str) -> Reply:
    """The list replaces the account's positions; a margin recalculation is queued."""
    parsed = parse_positions([PositionInput(**p.model_dump()) for p in body.positions],
                             ctx.settings.asset_decimals)
    account_id = replace_positions(ctx.session, account_id, parsed)
    ctx.after_commit(risk_tasks.send_margin_recompute, account_id, "positions")
    return Reply(200, _account(ctx, account_id))


@endpoint(bp, "GET", "/v1/risk/accounts/{account_id}", scope=READ,
          summary="An account's positions (escrowed included) and latest margin status",
          response=RiskAccountView, operation_id="getRiskAccount")
def get_account(ctx: Context, account_id: str) -> Reply:
    return Reply(200, _account(ctx, check_account(account_id, "account_id")))


@endpoint(bp, "GET", "/v1/risk/accounts/{account_id}/margin-health", scope=READ,
          response=MarginHealthView,
          summary="The latest margin health snapshot and its age")
def get_margin_health(ctx: Context, account_id: str) -> Reply:
    account = margin.get_account(ctx.session, check_account(account_id, "account_id"))
    snapshot = margin.latest_snapshot(ctx.session, account.account_id)
    if snapshot is None:
        raise NotFound(f"margin health of {account.account_id} not calculated yet",
                       code="margin_health_not_calculated")
    return Reply(200, views.snapshot_view(snapshot, _now()))


@endpoint(bp, "POST", "/v1/risk/accounts/{account_id}/margin-health", scope=WRITE, status=202,
          response=MarginRecalculation,
          summary="Queue a margin recalculation", operation_id="recalculateMarginHealth")
def post_margin_health(ctx: Context, account_id: str) -> Reply:
    account = margin.get_account(ctx.session, check_account(account_id, "account_id"))
    task_id = f"risk-margin:{account.account_id}:{uuid.uuid4().hex[:12]}"
    ctx.after_commit(risk_tasks.send_margin_recompute, account.account_id, "request", task_id)
    return Reply(202, {"account_id": account.account_id, "task_id": task_id,
                       "status_url": f"/v1/risk/accounts/{account.account_id}/margin-health"})


@endpoint(bp, "GET", "/v1/risk/accounts/{account_id}/margin-events", scope=READ,
          response=MarginEvents,
          summary="Margin events (status changes), newest first (?limit=)",
          query=(Query("limit", "At most this many (default 100)",
                       {"type": "integer", "minimum": 1, "maximum": MAX_EVENTS}),))
def get_margin_events(ctx: Context, account_id: str) -> Reply:
    account = margin.get_account(ctx.session, check_account(account_id, "account_id"))
    limit = min(max(request.args.get("limit", 100, type=int) or 100, 1), MAX_EVENTS)
    events = margin.margin_events(ctx.session, account.account_id, limit)
    return Reply(200, {"account_id": account.account_id,
                       "events": [views.event_view(e) for e in events]})


@endpoint(bp, "POST", "/v1/risk/calculations", scope=WRITE, body=CalculationIn, status=202,
          response=CalculationAccepted,
          summary="Queue a VaR/CVaR and stress calculation for an account or positions",
          operation_id="startCalculation")
def post_calculation(ctx: Context, body: CalculationIn) -> Reply:
    positions = None if body.positions is None else parse_positions(
        [PositionInput(**p.model_dump()) for p in body.positions], ctx.settings.asset_decimals)
    account_id = None if body.account_id is None else check_account(body.account_id,
                                                                    "account_id")
    calculation_id = calculations.accept_calculation(
        ctx.session, account_id=account_id, positions=positions, confidence=body.confidence,
        horizons=body.horizons, scenarios=body.scenarios)
    ctx.after_commit(risk_tasks.send_calculation, calculation_id)
    return Reply(202, {"calculation_id": calculation_id, "status": "pending",
                       "status_url": f"/v1/risk/calculations/{calculation_id}"})


@endpoint(bp, "GET", "/v1/risk/calculations/{calculation_id}", response=CalculationView, scope=READ,
          summary="A calculation's status and, once completed, its result")
def get_calculation(ctx: Context, calculation_id: str) -> Reply:
    calc = calculations.get_calculation(ctx.session, calculation_id)
    return Reply(200, {
        "calculation_id": calc.calculation_id, "status": calc.status,
        "account_id": calc.account_id, "request": calc.request, "result": calc.result,
        "error_code": calc.error_code, "error": calc.error,
        "created_at": calc.created_at.isoformat(),
        "completed_at": calc.completed_at.isoformat() if calc.completed_at else None})


@endpoint(bp, "POST", "/v1/risk/batches", scope=WRITE, body=BatchIn, status=202,
          response=RiskBatchAccepted,
          summary="Queue a set-based margin recompute of all accounts or one asset's holders",
          operation_id="startRiskBatch")
def post_batch(ctx: Context, body: BatchIn) -> Reply:
    asset = check_symbol(body.asset) if body.asset is not None else None
    plan = batch.start_batch(ctx.session, scope=body.scope, asset=asset, trigger="api",
                             now=_now(), chunk_size=ctx.settings.risk_batch_chunk_size)
    assert plan is not None  # only skip_empty batches come back empty
    ctx.after_commit(risk_tasks.dispatch_chunks, plan.batch_id, plan.chunk_nos)
    return Reply(202, {"batch_id": plan.batch_id, "total": plan.total_accounts,
                       "chunks": len(plan.chunk_nos),
                       "status_url": f"/v1/risk/batches/{plan.batch_id}"})


@endpoint(bp, "GET", "/v1/risk/batches/{batch_id}", response=RiskBatchProgress, scope=READ,
          summary="A batch's progress: total, done, failed, rate, ETA",
          operation_id="getRiskBatch")
def get_batch(ctx: Context, batch_id: str) -> Reply:
    return Reply(200, batch.progress(ctx.session, batch_id, _now()))
