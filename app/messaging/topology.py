"""Topics, subscriptions and the subscription → event type → task routing: one table each."""

from __future__ import annotations

from dataclasses import dataclass

SETTLEMENT_EVENTS = "settlement.events.v1"
MARKET_PRICES = "market.prices.v1"
ALERTS_MARGIN = "alerts.margin.v1"
SETTLEMENT_RESULTS = "settlement.results.v1"
COMPLIANCE_RESULTS = "compliance.results.v1"
RISK_SNAPSHOTS = "risk.snapshots.v1"
DEAD_LETTER = "fusion.deadletter.v1"

TOPICS: tuple[str, ...] = (
    SETTLEMENT_EVENTS, MARKET_PRICES, ALERTS_MARGIN, SETTLEMENT_RESULTS, COMPLIANCE_RESULTS,
    RISK_SNAPSHOTS, DEAD_LETTER,
)

ESCROW_EVENTS = ("EscrowDeployed", "EscrowCreated", "Approved", "EscrowReleased",
                 "EscrowRefunded")
SETTLEMENT_STATUS_EVENTS = ("SettlementInitiated", "SettlementConfirmed", "SettlementFailed")
MARGIN_EVENTS = ("margin_warning", "margin_call", "liquidation_imminent", "margin_recovered")


@dataclass(frozen=True, slots=True)
class Subscription:
    name: str
    topic: str
    queue: str
    # event type → Celery task name; an event type missing here is dead-lettered.
    routes: dict[str, str]
    ack_deadline_seconds: int = 60
    message_retention_seconds: int = 7 * 24 * 3600
    ordering: bool = True
    # The bridge nacks only while the broker is down, so a high bound (Pub/Sub's maximum) keeps
    # an outage from pushing good messages to the dead-letter topic; retry backoff spaces them.
    max_delivery_attempts: int = 100
    retry_min_backoff_seconds: int = 1
    retry_max_backoff_seconds: int = 60


SUBSCRIPTIONS: tuple[Subscription, ...] = (
    Subscription(
        "settlement-events", SETTLEMENT_EVENTS, "settlement",
        {**dict.fromkeys(ESCROW_EVENTS, "settlement.apply_chain_event"),
         **dict.fromkeys(SETTLEMENT_STATUS_EVENTS, "settlement.apply_settlement_event")},
    ),
    # Escrows that open or close change their payer's collateral; approvals and settlement
    # statuses change nothing the risk engine values and are only recorded.
    Subscription("risk-events", SETTLEMENT_EVENTS, "risk",
                 {**dict.fromkeys(ESCROW_EVENTS + SETTLEMENT_STATUS_EVENTS, "risk.record_event"),
                  **dict.fromkeys(("EscrowDeployed", "EscrowCreated", "EscrowReleased",
                                   "EscrowRefunded"), "risk.apply_escrow_event")}),
    Subscription("risk-prices", MARKET_PRICES, "risk", {"PriceUpdated": "risk.apply_price"}),
    Subscription("alerts", ALERTS_MARGIN, "alerts", dict.fromkeys(MARGIN_EVENTS,
                                                                 "alerts.handle_margin_event")),
)

BY_NAME = {s.name: s for s in SUBSCRIPTIONS}
