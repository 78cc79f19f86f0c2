"""Per-request log context: a request id (echoed as X-Request-ID) and the route, bound into
every log line the request produces, and one access line per request."""

from __future__ import annotations

import re
import time
import uuid

from flask import Flask, Response, g, request

from app.logs import bind, clear, get_logger

log = get_logger("web.access")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


def install_request_context(app: Flask) -> None:
    @app.before_request
    def _bind() -> None:
        offered = request.headers.get("X-Request-ID", "")
        g.request_id = offered if _SAFE_ID.match(offered) else uuid.uuid4().hex
        g.started = time.perf_counter()
        bind(request_id=g.request_id)

    @app.after_request
    def _log(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id", "")
        principal = g.get("principal")
        # Never the Authorization header or the body: they may carry secrets or personal data.
        log.info("http.request", method=request.method, path=request.path,
                 route=request.url_rule.rule if request.url_rule else None,
                 status=response.status_code, key_id=principal.key_id if principal else None,
                 duration_ms=round((time.perf_counter() - g.get("started", 0.0)) * 1000, 2))
        return response

    @app.teardown_request
    def _clear(_: BaseException | None) -> None:
        clear("request_id")
