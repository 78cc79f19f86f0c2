"""Reading query-string arguments the API and the console share."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import request

from app.domain.errors import InvalidInput


def arg_time(name: str) -> datetime | None:
    """An ISO time (without an offset it counts as UTC, as a datetime-local field sends it),
    or None when absent or empty."""
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        at = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise InvalidInput(f"{name} is not an ISO time (YYYY-MM-DDTHH:MM[:SS][+HH:MM])",
                           code="invalid_time", field=name) from exc
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def arg_text(name: str) -> str | None:
    return request.args.get(name, "").strip() or None
