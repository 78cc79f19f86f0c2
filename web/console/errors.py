"""Console errors are pages, not problem+json: the same statuses the API uses, shown to a person."""

from __future__ import annotations

from flask import Response, render_template
from werkzeug.exceptions import HTTPException

from app.domain.errors import Conflict, DomainError, InvalidInput, NotFound
from web.console import bp

_STATUS: tuple[tuple[type[DomainError], int], ...] = (
    (InvalidInput, 422), (NotFound, 404), (Conflict, 409),
)


def _page(status: int, title: str, detail: str) -> Response:
    return Response(render_template("console/error.html", status=status, title=title,
                                    detail=detail), status=status)


@bp.errorhandler(HTTPException)
def _http(exc: HTTPException) -> Response:
    return _page(exc.code or 500, exc.name, exc.description or exc.name)


@bp.errorhandler(DomainError)
def _refused(exc: DomainError) -> Response:
    status = next((s for cls, s in _STATUS if isinstance(exc, cls)), 400)
    return _page(status, exc.code.replace("_", " ").capitalize(), exc.message)
