"""The plain-text email of a margin alert: what happened, to which account, what to do."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_ACTIONS = {
    "margin_warning": "Consider adding collateral or reducing borrowing before the account "
                      "reaches a margin call.",
    "margin_call": "Add collateral or repay borrowing now to restore the account's health.",
    "liquidation_imminent": "Act immediately: add collateral or repay borrowing, or positions "
                            "will be liquidated.",
    "margin_recovered": "No action is needed; the account is healthy again.",
}
_TITLES = {
    "margin_warning": "Margin warning", "margin_call": "Margin call",
    "liquidation_imminent": "Liquidation imminent", "margin_recovered": "Margin recovered",
}


def render(data: Mapping[str, Any]) -> tuple[str, str]:
    """(subject, body) for an alerts.margin.v1 data dict; missing fields read as 'n/a'."""
    event_type = str(data.get("event_type", "margin_alert"))
    account = str(data.get("account_id", "unknown account"))
    severity = str(data.get("severity", "n/a")).upper()
    title = _TITLES.get(event_type, event_type.replace("_", " ").capitalize())
    subject = f"[{severity}] {title}: account {account}"

    def field(name: str) -> str:
        value = data.get(name)
        return "n/a" if value in (None, "") else str(value)

    lines = [
        f"{title} for account {account} (severity {severity}).",
        "",
        field("message") if data.get("message") else f"The account's margin status is now "
                                                     f"{field('status')}.",
        "",
        f"Health score: {field('health_score')} (was {field('previous_health_score')})",
        f"Total collateral (USD): {field('total_collateral_usd')}",
        f"Total borrowed (USD): {field('total_borrow_usd')}",
        f"Price drop to liquidation (%): {field('liquidation_price_drop_percent')}",
        f"Occurred at: {field('occurred_at')}",
        "",
        "What to do: " + _ACTIONS.get(event_type, "Review the account's margin position."),
        "",
        f"Alert id: {field('event_id')}",
    ]
    return subject, "\n".join(lines) + "\n"
