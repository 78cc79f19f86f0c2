"""AML transaction rules (DOMAIN.md §4) over a party's history, with explicit timestamps.

Windows are trailing and half-open, ending at the checked transaction: a transaction belongs
to the 24 h window of a transaction at `t` when `t - 24 h < occurred_at <= t`. One exactly
24 h earlier is out; one later than `t` is never counted, so the outcome of a check does not
depend on the order in which checks happen to run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

ONE = Decimal("1.0")


class Level(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class TransactionType(StrEnum):
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"
    INTERNAL_TRANSFER = "internal_transfer"
    EXTERNAL_TRANSFER = "external_transfer"
    TRADE = "trade"


@dataclass(frozen=True, slots=True)
class RuleSet:
    """The points table and lists, loaded from versioned configuration (app/data)."""

    version: str
    reporting_threshold_usd: Decimal
    large_amount_usd: Decimal
    structuring_window: timedelta
    structuring_min_transactions: int
    structuring_band: Decimal  # fraction below the reporting threshold
    velocity_window: timedelta
    velocity_more_than: int
    outbound_types: frozenset[str]
    points: Mapping[str, Decimal]
    medium_from: Decimal
    high_from: Decimal
    high_risk_countries: frozenset[str]
    high_risk_counterparties: frozenset[str]

    @classmethod
    def from_config(cls, raw: Mapping[str, Any]) -> RuleSet:
        structuring, velocity, levels = raw["structuring"], raw["velocity"], raw["levels"]
        return cls(
            version=str(raw["version"]),
            reporting_threshold_usd=Decimal(raw["reporting_threshold_usd"]),
            large_amount_usd=Decimal(raw["large_amount_usd"]),
            structuring_window=timedelta(hours=int(structuring["window_hours"])),
            structuring_min_transactions=int(structuring["min_transactions"]),
            structuring_band=Decimal(structuring["band_below_threshold"]),
            velocity_window=timedelta(hours=int(velocity["window_hours"])),
            velocity_more_than=int(velocity["more_than"]),
            outbound_types=frozenset(raw["outbound_types"]),
            points={name: Decimal(value) for name, value in raw["points"].items()},
            medium_from=Decimal(levels["medium_from"]),
            high_from=Decimal(levels["high_from"]),
            high_risk_countries=frozenset(c.upper() for c in raw["high_risk_countries"]),
            high_risk_counterparties=frozenset(
                c.lower() for c in raw.get("high_risk_counterparties", [])),
        )

    def level(self, score: Decimal) -> Level:
        if score >= self.high_from:
            return Level.HIGH
        return Level.MEDIUM if score >= self.medium_from else Level.LOW

    def in_structuring_band(self, usd: Decimal | None) -> bool:
        if usd is None:
            return False
        low = self.reporting_threshold_usd * (ONE - self.structuring_band)
        return low <= usd < self.reporting_threshold_usd


@dataclass(frozen=True, slots=True)
class Txn:
    """A transaction as the rules see it. `usd` is None when the asset has no price."""

    txn_id: str
    occurred_at: datetime
    usd: Decimal | None
    amount: Decimal
    asset: str


@dataclass(frozen=True, slots=True)
class Checked:
    """The transaction under check and what the rules need beyond the history."""

    txn: Txn
    type: str
    counterparty: str
    country: str | None
    counterparty_sanctions: Mapping[str, Any] | None  # the screening hit, when there is one


@dataclass(frozen=True, slots=True)
class Fired:
    rule: str
    points: Decimal
    evidence: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "points": str(self.points), "evidence": self.evidence}


@dataclass(frozen=True, slots=True)
class Assessment:
    score: Decimal
    level: Level
    fired: tuple[Fired, ...]
    rules_version: str
    unpriced: bool

    @property
    def opens_alert(self) -> bool:
        return self.level in (Level.MEDIUM, Level.HIGH)


def within(window: timedelta, at: datetime, history: Sequence[Txn]) -> list[Txn]:
    """The transactions of the trailing half-open window (at - window, at]."""
    return sorted((t for t in history if at - window < t.occurred_at <= at),
                  key=lambda t: (t.occurred_at, t.txn_id))


def _brief(txns: Sequence[Txn]) -> list[dict[str, str]]:
    return [{"check_id": t.txn_id, "occurred_at": t.occurred_at.isoformat(),
             "amount": str(t.amount), "asset": t.asset,
             "usd": str(t.usd) if t.usd is not None else "unpriced"} for t in txns]


def _amount_rules(rules: RuleSet, usd: Decimal) -> list[Fired]:
    fired = []
    if usd >= rules.reporting_threshold_usd:
        fired.append(Fired("reporting_threshold", rules.points["reporting_threshold"],
                           {"usd": str(usd), "threshold_usd": str(rules.reporting_threshold_usd)}))
    if usd >= rules.large_amount_usd:
        fired.append(Fired("large_amount", rules.points["large_amount"],
                           {"usd": str(usd), "threshold_usd": str(rules.large_amount_usd)}))
    return fired


def _window_rules(rules: RuleSet, txn: Txn, history: Sequence[Txn]) -> list[Fired]:
    fired = []
    # Structuring is completed by an in-band transaction; an unrelated payment later in the
    # window does not raise it again.
    if rules.in_structuring_band(txn.usd):
        band = [t for t in within(rules.structuring_window, txn.occurred_at, history)
                if rules.in_structuring_band(t.usd)]
        if len(band) >= rules.structuring_min_transactions:
            fired.append(Fired("structuring", rules.points["structuring"], {
                "window_start_exclusive": (txn.occurred_at - rules.structuring_window)
                .isoformat(),
                "window_end": txn.occurred_at.isoformat(), "count": len(band),
                "band_usd": [str(rules.reporting_threshold_usd * (ONE - rules.structuring_band)),
                             str(rules.reporting_threshold_usd)],
                "transactions": _brief(band)}))
    recent = within(rules.velocity_window, txn.occurred_at, history)
    if len(recent) > rules.velocity_more_than:
        fired.append(Fired("velocity", rules.points["velocity"], {
            "window_start_exclusive": (txn.occurred_at - rules.velocity_window).isoformat(),
            "window_end": txn.occurred_at.isoformat(), "count": len(recent),
            "more_than": rules.velocity_more_than,
            "check_ids": [t.txn_id for t in recent]}))
    return fired


def _party_rules(rules: RuleSet, checked: Checked) -> list[Fired]:
    fired = []
    if checked.type in rules.outbound_types:
        fired.append(Fired("outbound", rules.points["outbound"], {"type": checked.type}))
    country = (checked.country or "").upper()
    risky_country = country in rules.high_risk_countries
    risky_counterparty = checked.counterparty.lower() in rules.high_risk_counterparties
    if risky_country or risky_counterparty:
        evidence: dict[str, Any] = {"list_version": rules.version}
        if risky_country:
            evidence["country"] = country
        if risky_counterparty:
            evidence["counterparty"] = checked.counterparty
        fired.append(Fired("high_risk", rules.points["high_risk"], evidence))
    if checked.counterparty_sanctions:
        fired.append(Fired("sanctioned_counterparty", rules.points["sanctioned_counterparty"],
                           dict(checked.counterparty_sanctions)))
    return fired


def assess(rules: RuleSet, checked: Checked, history: Sequence[Txn]) -> Assessment:
    """Score a transaction. `history` holds the party's transactions (the checked one included
    or not: it is added once); points add up and the score is capped at 1.0."""
    txn = checked.txn
    others = [t for t in history if t.txn_id != txn.txn_id]
    everything = [*others, txn]
    fired = [*(_amount_rules(rules, txn.usd) if txn.usd is not None else []),
             *_window_rules(rules, txn, everything), *_party_rules(rules, checked)]
    score = min(sum((f.points for f in fired), Decimal(0)), ONE)
    return Assessment(score, rules.level(score), tuple(fired), rules.version, txn.usd is None)
