"""/v1/webhooks, /v1/deliveries and /v1/accounts/{id}/notification-preferences (DOMAIN.md §5).

Subscriptions and their secrets are platform configuration: the `admin` scope. Preferences
belong to the risk desk that owns margin alerts: `risk:read` / `risk:write`."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time
from typing import Annotated, Any

from flask import Blueprint, request
from pydantic import BeforeValidator, ConfigDict, Field, StrictStr, WithJsonSchema

from app.services.alerts import deliveries, preferences, subscriptions
from tasks.alerts import send_deliveries
from web.endpoint import Context, Query, Reply, endpoint
from web.responses import (
    Deleted,
    DeliveryList,
    PreferencesView,
    RedeliveryAccepted,
    WebhookList,
    WebhookView,
)
from web.schemas import Request

bp = Blueprint("alerts", __name__)
ADMIN, RISK_READ, RISK_WRITE = "admin", "risk:read", "risk:write"


class CreateWebhook(Request):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "url": "https://example.com/hook", "event_types": ["margin_call", "liquidation_imminent"],
        "description": "risk desk"}]})

    url: StrictStr = Field(min_length=1, max_length=2000, description=(
        "http(s) URL that receives signed POSTs; private addresses are refused"),
        examples=["https://example.com/hook"])
    event_types: list[StrictStr] = Field(min_length=1, description=(
        "margin_warning, margin_call, liquidation_imminent, margin_recovered"),
        examples=[["margin_call"]])
    description: StrictStr | None = Field(default=None, max_length=500,
                                          description="A note for people")


class RotateSecret(Request):
    """No fields."""

    model_config = ConfigDict(json_schema_extra={"examples": [{}]})


class Redeliver(Request):
    """No fields."""

    model_config = ConfigDict(json_schema_extra={"examples": [{}]})


_CLOCK = re.compile(r"([01]\d|2[0-3]):[0-5]\d")


def _clock_time(value: Any) -> time:
    # pydantic's own time parsing takes seconds as a number and HH:MM:SS.ffffff; a quiet hour
    # is a wall-clock minute, written one way.
    if not isinstance(value, str) or not _CLOCK.fullmatch(value):
        raise ValueError("a time is a string HH:MM (00:00-23:59)")
    return time.fromisoformat(value)


ClockTime = Annotated[time, BeforeValidator(_clock_time), WithJsonSchema(
    {"type": "string", "pattern": f"^{_CLOCK.pattern}$", "examples": ["22:00"]})]


class QuietHoursBody(Request):
    start: ClockTime = Field(description="Local time quiet hours begin, HH:MM",
                             examples=["22:00"])
    end: ClockTime = Field(description="Local time they end, HH:MM (may be past midnight)",
                           examples=["07:00"])


class Preferences(Request):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "channels": ["email", "webhook"], "email": "risk@example.com",
        "quiet_hours": {"start": "22:00", "end": "07:00"}, "timezone": "Europe/Paris"}]})

    channels: list[StrictStr] = Field(description="email and/or webhook",
                                      examples=[["email", "webhook"]])
    email: StrictStr | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$",
                                    description="Where email alerts go (stored encrypted)")
    quiet_hours: QuietHoursBody | None = Field(default=None, description=(
        "Local hours in which medium and low alerts are held until the end"))
    timezone: StrictStr = Field(default="UTC", max_length=64,
                                description="IANA time zone of the quiet hours")


@endpoint(bp, "POST", "/v1/webhooks", scope=ADMIN, body=CreateWebhook, status=201,
          response=WebhookView,
          summary="Subscribe a URL to margin alerts; the signing secret is shown only here")
def create_webhook(ctx: Context, body: CreateWebhook) -> Reply:
    """Each delivery is a POST signed with the secret (HMAC-SHA256 header), retried with
    backoff; keep the secret from this answer, it is never shown again."""
    row, secret = subscriptions.create(ctx.session, ctx.settings, url=body.url,
                                       event_types=body.event_types,
                                       description=body.description)
    return Reply(201, subscriptions.view(row, secret))


@endpoint(bp, "GET", "/v1/webhooks", scope=ADMIN, summary="Active webhook subscriptions",
          response=WebhookList)
def list_webhooks(ctx: Context) -> Reply:
    return Reply(200, {"webhooks": [subscriptions.view(r)
                                    for r in subscriptions.active(ctx.session)]})


@endpoint(bp, "GET", "/v1/webhooks/{webhook_id}", scope=ADMIN, response=WebhookView,
          summary="One webhook subscription (never its secret)")
def get_webhook(ctx: Context, webhook_id: str) -> Reply:
    return Reply(200, subscriptions.view(subscriptions.get(ctx.session, webhook_id)))


@endpoint(bp, "DELETE", "/v1/webhooks/{webhook_id}", response=Deleted, scope=ADMIN,
          summary="Unsubscribe; deliveries not yet made are skipped")
def delete_webhook(ctx: Context, webhook_id: str) -> Reply:
    subscriptions.delete(ctx.session, webhook_id, datetime.now(UTC))
    return Reply(200, {"id": webhook_id, "deleted": True})


@endpoint(bp, "POST", "/v1/webhooks/{webhook_id}/rotate-secret", scope=ADMIN,
          body=RotateSecret, summary="A new signing secret, shown once; the old one stops now",
          response=WebhookView, operation_id="rotateWebhookSecret")
def rotate_secret(ctx: Context, body: RotateSecret, webhook_id: str) -> Reply:
    row, secret = subscriptions.rotate_secret(ctx.session, ctx.settings, webhook_id,
                                              datetime.now(UTC))
    return Reply(200, subscriptions.view(row, secret))


@endpoint(bp, "GET", "/v1/webhooks/{webhook_id}/deliveries", response=DeliveryList, scope=ADMIN,
          summary="Recent deliveries of a subscription with every attempt (?limit=)",
          query=(Query("limit", "At most this many (default 100)",
                       {"type": "integer", "minimum": 1, "maximum": 500}),))
def list_deliveries(ctx: Context, webhook_id: str) -> Reply:
    limit = min(max(request.args.get("limit", 100, type=int) or 100, 1), 500)
    rows = deliveries.of_subscription(ctx.session, webhook_id, limit)
    return Reply(200, {"deliveries": [deliveries.view(ctx.session, d) for d in rows]})


@endpoint(bp, "POST", "/v1/deliveries/{delivery_id}/redeliver", scope=ADMIN, body=Redeliver,
          response=RedeliveryAccepted,
          status=202, summary="Send a finished delivery again, with a fresh set of attempts",
          operation_id="redeliverDelivery")
def redeliver(ctx: Context, body: Redeliver, delivery_id: str) -> Reply:
    send = deliveries.redeliver(ctx.session, delivery_id)
    ctx.after_commit(send_deliveries, [send])
    return Reply(202, {"id": delivery_id, "status": "pending"})


@endpoint(bp, "PUT", "/v1/accounts/{account_id}/notification-preferences", scope=RISK_WRITE,
          body=Preferences, summary="Set an account's channels, email and quiet hours",
          response=PreferencesView, operation_id="putNotificationPreferences")
def put_preferences(ctx: Context, body: Preferences, account_id: str) -> Reply:
    quiet = body.quiet_hours
    row = preferences.put(ctx.session, ctx.settings, account_id, channels=body.channels,
                          email=body.email, quiet_start=quiet.start if quiet else None,
                          quiet_end=quiet.end if quiet else None, timezone=body.timezone)
    return Reply(200, preferences.view(ctx.settings, row))


@endpoint(bp, "GET", "/v1/accounts/{account_id}/notification-preferences", scope=RISK_READ,
          summary="An account's notification preferences",
          response=PreferencesView, operation_id="getNotificationPreferences")
def get_preferences(ctx: Context, account_id: str) -> Reply:
    return Reply(200, preferences.view(ctx.settings,
                                       preferences.get(ctx.session, account_id)))
