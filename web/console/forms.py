"""The helpers the console's templates share (and the query-string readers, re-exported)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from flask import current_app, request, url_for

from app.config import Settings
from app.domain.money import format_amount
from app.services.risk.views import plain
from web.console import bp
from web.query_args import arg_text, arg_time

__all__ = ["amount", "arg_text", "arg_time", "next_url", "number", "when"]


@bp.app_template_global("next_url")
def next_url(cursor: str) -> str:
    """This page's URL with its filters and the next page's cursor."""
    values: dict[str, Any] = {k: v for k, v in request.args.items() if k != "cursor"}
    values.update(request.view_args or {}, cursor=cursor)
    return url_for(request.endpoint or "console.overview", **values)


@bp.app_template_filter("console_amount")
def amount(value: Decimal | None, asset: str | None) -> str:
    if value is None or asset is None:
        return ""
    settings: Settings = current_app.config["SETTINGS"]
    return format_amount(value, asset, settings.asset_decimals)


@bp.app_template_filter("console_number")
def number(value: Decimal | None) -> str:
    """A derived figure (a health score) as the risk API writes it: never in exponent form."""
    return plain(value) if value is not None else ""


@bp.app_template_filter("console_time")
def when(value: datetime | None) -> str:
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC" if value else ""
