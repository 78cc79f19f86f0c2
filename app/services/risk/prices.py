"""Prices: every tick once per (asset, timestamp) in the history, the newest as the latest
price, and the coalescing of the recomputes that price moves cause.

Coalescing: a new latest price sets `recompute_requested_at` on the asset's row and asks the
caller to queue one recompute only if none is queued yet. A flood of ticks therefore queues one
recompute, which reads the newest price when it runs; ticks arriving while its batch runs queue
(at most) one more, which waits for that batch to finish.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from app.domain.risk.inputs import check_symbol, check_timestamp, parse_price
from app.domain.risk.margin import Price
from app.persistence.risk_models import RiskPrice, RiskPriceHistory
from app.services.risk import batch
from app.services.risk.batch import BatchPlan

# A recompute requested this long ago and still not claimed was lost (the send after commit
# failed, or the broker lost it): the next tick queues another.
REQUEUE_AFTER = timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class PriceOutcome:
    asset: str
    price_usd: Decimal
    timestamp: datetime
    outcome: str  # latest | historical (older than the latest) | duplicate | conflict
    recompute_seq: int | None = None  # queue risk.recompute_asset after commit when set

    def as_dict(self) -> dict[str, Any]:
        # asset_symbol: the old name of asset, kept for one release.
        return {"asset": self.asset, "asset_symbol": self.asset,
                "price_usd": str(self.price_usd),
                "timestamp": self.timestamp.isoformat(), "outcome": self.outcome,
                "recompute_queued": self.recompute_seq is not None}


def record_price(session: Session, *, asset: str, price_usd: Decimal, timestamp: datetime,
                 source: str | None, now: datetime) -> PriceOutcome:
    """Store a tick idempotently; returns what it changed and whether to queue a recompute."""
    asset, timestamp = check_symbol(asset), check_timestamp(timestamp, now)
    stored = session.execute(
        insert(RiskPriceHistory)
        .values(asset=asset, price_time=timestamp, price_usd=price_usd, source=source)
        .on_conflict_do_nothing().returning(RiskPriceHistory.asset)).scalar_one_or_none()
    if stored is None:
        first = session.get(RiskPriceHistory, (asset, timestamp))
        same = first is not None and first.price_usd == price_usd
        return PriceOutcome(asset, price_usd, timestamp, "duplicate" if same else "conflict")
    upsert = insert(RiskPrice).values(asset=asset, price_usd=price_usd, price_time=timestamp,
                                      source=source, tick_seq=1, recomputed_seq=0)
    # Only a newer tick moves the latest price: late, out-of-order ticks go to history only.
    seq = session.execute(upsert.on_conflict_do_update(
        index_elements=[RiskPrice.asset],
        set_={"price_usd": upsert.excluded.price_usd, "price_time": upsert.excluded.price_time,
              "source": upsert.excluded.source, "tick_seq": RiskPrice.tick_seq + 1,
              "updated_at": now},
        where=RiskPrice.price_time < upsert.excluded.price_time,
    ).returning(RiskPrice.tick_seq)).scalar_one_or_none()
    if seq is None:
        return PriceOutcome(asset, price_usd, timestamp, "historical")
    queue = session.execute(
        update(RiskPrice)
        .where(RiskPrice.asset == asset,
               or_(RiskPrice.recompute_requested_at.is_(None),
                   RiskPrice.recompute_requested_at < now - REQUEUE_AFTER))
        .values(recompute_requested_at=now).returning(RiskPrice.tick_seq)).scalar_one_or_none()
    return PriceOutcome(asset, price_usd, timestamp, "latest", queue)


def record_price_event(session: Session, data: Mapping[str, Any],
                       now: datetime) -> PriceOutcome:
    """A PriceUpdated event (already validated by the bridge's payload model)."""
    return record_price(session, asset=str(data["asset_symbol"]),
                        price_usd=parse_price(str(data["price_usd"])),
                        timestamp=datetime.fromisoformat(str(data["timestamp"])),
                        source=data.get("source"), now=now)


@dataclass(frozen=True, slots=True)
class Claim:
    outcome: str  # started | superseded | deferred | no_exposure
    plan: BatchPlan | None = None
    seq: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "seq": self.seq,
                "batch_id": self.plan.batch_id if self.plan else None}


def claim_recompute(session: Session, asset: str, *, now: datetime,
                    chunk_size: int) -> Claim:
    """Turn the queued request of an asset into a batch over its holders, at the newest tick.

    `superseded`: an earlier recompute already took every tick. `deferred`: a batch for this
    asset is still running; the caller retries later and ticks meanwhile queue nothing more.
    """
    price = session.get(RiskPrice, asset, with_for_update=True)
    if price is None or price.recompute_requested_at is None:
        return Claim("superseded")
    if batch.has_active_batch(session, asset, now):
        price.recompute_requested_at = now
        return Claim("deferred", seq=price.tick_seq)
    price.recompute_requested_at, price.recomputed_seq = None, price.tick_seq
    plan = batch.start_batch(session, scope="asset", asset=asset, trigger="price", now=now,
                             chunk_size=chunk_size, request_key=f"price:{asset}:{price.tick_seq}",
                             skip_empty=True)
    return Claim("started" if plan else "no_exposure", plan, price.tick_seq)


def stray_requests(session: Session, now: datetime) -> list[tuple[str, int]]:
    """Assets whose queued recompute was never claimed (lost send): re-armed, returned with
    their tick seq."""
    rows = session.scalars(select(RiskPrice).where(
        RiskPrice.recompute_requested_at < now - REQUEUE_AFTER).with_for_update(
            skip_locked=True)).all()
    for row in rows:
        row.recompute_requested_at = now
    return [(row.asset, row.tick_seq) for row in rows]


def latest_prices(session: Session, assets: Iterable[str]) -> dict[str, Price]:
    rows = session.scalars(select(RiskPrice).where(RiskPrice.asset.in_(list(assets)))).all()
    return {r.asset: Price(r.asset, r.price_usd, r.price_time) for r in rows}


def get_latest(session: Session, asset: str) -> RiskPrice | None:
    return session.get(RiskPrice, asset)
