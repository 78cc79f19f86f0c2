"""Sign-in with an API key, the session it opens, scope checks and the CSRF token."""

from __future__ import annotations

import functools
import hmac
import secrets
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Response, abort, current_app, g, redirect, render_template, request, url_for
from flask import session as cookie
from werkzeug.wrappers import Response as BaseResponse

from app.config import Settings
from app.persistence.db import unit_of_work
from app.services import apikeys
from app.services.apikeys import Principal
from web.console import bp
from web.schemas import has_nul

F = TypeVar("F", bound=Callable[..., Any])
# Each page, and the scope it needs; the navigation shows only those the key allows.
PAGES: tuple[tuple[str, str, str | None], ...] = (
    ("console.overview", "Overview", None),
    ("console.commands", "Commands", "settlement:read"),
    ("console.ledger", "Ledger", "settlement:read"),
    ("console.risk", "Risk", "risk:read"),
    ("console.compliance", "Compliance", "compliance:read"),
    ("console.dead_letters", "Dead letters", "admin"),
    ("console.batches", "Batches", "admin"),
)


def csrf_token() -> str:
    token = cookie.get("csrf")
    if not isinstance(token, str):
        token = cookie["csrf"] = secrets.token_urlsafe(32)
    return token


@bp.app_context_processor
def _template_helpers() -> dict[str, Any]:
    principal: Principal | None = g.get("console_principal")
    pages = [(e, title) for e, title, scope in PAGES
             if principal and (scope is None or principal.allows(scope))]
    return {"csrf_token": csrf_token, "principal": principal, "nav": pages}


@bp.before_request
def _guard() -> BaseResponse | None:
    if request.endpoint == "console.static":
        return None
    # PostgreSQL text cannot hold a NUL: refused here, as the API refuses it, not a 500 later.
    if any(has_nul(v) for v in (request.view_args or {}).values()) or any(
            has_nul(k) or has_nul(vs) for source in (request.args, request.form)
            for k, vs in source.lists()):
        abort(422, "a NUL character is not allowed in a path, query or form field")
    if current_app.secret_key is None:
        abort(503, "the console needs CONSOLE_SECRET_KEY in production")
    if request.method == "POST":
        sent, expected = request.form.get("csrf_token", ""), cookie.get("csrf")
        if not isinstance(expected, str) or not hmac.compare_digest(sent, expected):
            abort(400, "the form's CSRF token is missing or stale; reload the page and retry")
    if request.endpoint == "console.sign_in":
        return None
    principal = _principal()
    if principal is None:
        cookie.clear()
        return redirect(url_for("console.sign_in", next=request.path))
    # g.principal is what the request log line reads its key_id from, as for the API.
    g.console_principal = g.principal = principal
    return None


# Everything the pages need comes from this origin; nothing may frame them, and what they show
# (balances, reasons, raw messages) is not for caches.
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@bp.after_request
def _secure_headers(response: BaseResponse) -> BaseResponse:
    for name, value in _HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _principal() -> Principal | None:
    key_id, issued = cookie.get("key_id"), cookie.get("issued")
    if not isinstance(key_id, str) or not isinstance(issued, (int, float)):
        return None
    settings: Settings = current_app.config["SETTINGS"]
    # The cookie's own max_age slides with every page; this bound does not.
    if time.time() - issued > settings.console_session_seconds:
        return None
    with unit_of_work() as session:
        return apikeys.principal_of(session, key_id)


def requires(scope: str) -> Callable[[F], F]:
    """A page for keys with `scope`; others get a 403 page."""
    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            principal: Principal = g.console_principal
            if not principal.allows(scope):
                abort(403, f"this page needs the scope {scope!r}")
            return view(*args, **kwargs)
        return cast("F", wrapped)
    return decorate


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> BaseResponse:
    error = None
    if request.method == "POST":
        settings: Settings = current_app.config["SETTINGS"]
        with unit_of_work() as session:
            principal = apikeys.authenticate(session, request.form.get("api_key", "").strip(),
                                             settings.api_key_pepper.get_secret_value())
        if principal is not None:
            # A fresh session (and CSRF token) so nothing from before sign-in carries over.
            cookie.clear()
            cookie.permanent = True
            cookie.update(key_id=principal.key_id, issued=int(time.time()),
                          csrf=secrets.token_urlsafe(32))
            return redirect(_safe_next(request.args.get("next")))
        error = "That API key is unknown or revoked."
    status = 401 if error else 200
    return Response(render_template("console/sign_in.html", error=error), status=status)


def _safe_next(target: str | None) -> str:
    # Only a path inside the console, never another site.
    if target and target.startswith("/console/") and not target.startswith("//"):
        return target
    return url_for("console.overview")


@bp.route("/sign-out", methods=["POST"])
def sign_out() -> BaseResponse:
    cookie.clear()
    return redirect(url_for("console.sign_in"))
