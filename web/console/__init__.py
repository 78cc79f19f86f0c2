"""The operator console: server-rendered pages under /console over the same services as the API.

Signed in with an API key, it keeps only the key id in a signed, HttpOnly, SameSite=Strict
session cookie and re-reads the key's scopes on every page (app.services.apikeys.principal_of).
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from flask import Blueprint
from flask.blueprints import BlueprintSetupState

from app.config import Settings

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
               static_folder="static", static_url_path="/static")


@bp.record_once
def _configure_session(state: BlueprintSetupState) -> None:
    app = state.app
    settings: Settings = app.config["SETTINGS"]
    secret = settings.console_secret_key.get_secret_value()
    if not secret and settings.fusion_env != "production":
        # Development and tests: derived, so every gunicorn worker of one deployment accepts
        # the others' cookies; not a secret (production refuses to run without the setting).
        pepper = settings.api_key_pepper.get_secret_value()
        seed = f"fusion-console-dev|{settings.database_url}|{pepper}"
        secret = hashlib.sha256(seed.encode()).hexdigest()
    app.secret_key = secret or None
    secure = settings.console_cookie_secure
    app.config.update(
        SESSION_COOKIE_NAME="fusion_console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=settings.fusion_env == "production" if secure is None else secure,
        SESSION_COOKIE_PATH="/console",
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=settings.console_session_seconds),
    )


# Imported for their routes and handlers on bp, after it exists.
from web.console import auth, errors, forms, ops, pages, risk_pages  # noqa: E402, F401
