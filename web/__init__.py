"""The Flask app factory: `web.create_app(settings)`; gunicorn runs `web.wsgi:app`."""

from __future__ import annotations

from flask import Flask, Response
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from app.config import Settings, get_settings
from app.domain.errors import DomainError
from app.services.apikeys import PrincipalCache
from web.logging import install_request_context
from web.problems import ApiProblem, from_domain_error, from_validation_error, problem
from web.unavailable import RETRY_AFTER_SECONDS, unavailable_dependency


def create_app(settings: Settings | None = None) -> Flask:
    # web.metrics is imported here, not at module level: web.gunicorn_conf (imported with
    # this package) must set PROMETHEUS_MULTIPROC_DIR before prometheus_client is imported.
    from web import docs, openapi  # noqa: PLC0415
    from web.metrics import install_metrics  # noqa: PLC0415
    from web.routes import (  # noqa: PLC0415 - blueprints import settings-dependent modules
        admin,
        alerts,
        batches,
        compliance,
        escrows,
        health,
        risk,
        settlement,
    )

    app = Flask(__name__)
    install_request_context(app)
    install_metrics(app)
    app.config["SETTINGS"] = settings or get_settings()
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    app.config["PRINCIPALS"] = PrincipalCache(app.config["SETTINGS"].api_key_cache_seconds)
    blueprints = (health.bp, escrows.bp, settlement.bp, risk.bp, compliance.bp, admin.bp,
                  alerts.bp, batches.bp, openapi.bp, docs.bp)
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    from web.console import bp as console_bp  # noqa: PLC0415 - the operator console
    app.register_blueprint(console_bp)
    from web.routes.command_search import bp as command_search_bp  # noqa: PLC0415
    app.register_blueprint(command_search_bp)
    from web.routes.risk_history import bp as risk_history_bp  # noqa: PLC0415
    app.register_blueprint(risk_history_bp)

    @app.errorhandler(ApiProblem)
    def _api_problem(exc: ApiProblem) -> Response:
        return problem(exc.status, exc.code, exc.detail, exc.errors, exc.headers)

    @app.errorhandler(ValidationError)
    def _invalid(exc: ValidationError) -> Response:
        return from_validation_error(exc)

    @app.errorhandler(DomainError)
    def _refused(exc: DomainError) -> Response:
        return from_domain_error(exc)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        code = (exc.name or "error").lower().replace(" ", "_")
        return problem(exc.code or 500, code, exc.description or code)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        dependency = unavailable_dependency(exc)
        if dependency is not None:
            # Safe to retry: every POST is idempotent (command ids, Idempotency-Key).
            app.logger.warning("dependency unavailable: %s (%s)", dependency,
                               type(exc).__name__)
            return problem(503, f"{dependency}_unavailable",
                           f"the {dependency} is unavailable; retry shortly",
                           headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        app.logger.exception("unhandled error")
        return problem(500, "internal_error", "an unexpected error occurred; it has been logged")

    return app


