"""RFC 9457 problem details: every error the API returns, machine-readable, never a stack trace."""

from __future__ import annotations

from typing import Any

from flask import Response, json
from pydantic import ValidationError

from app.domain.errors import Conflict, DomainError, GuardFailed, InvalidInput, NotFound

PROBLEM_TYPE_BASE = "https://fusion-prime.dev/problems/"
# Words a code spells in lower case that a title spells as people write them.
_PROPER = {"json": "JSON", "api": "API", "url": "URL", "kyc": "KYC", "aml": "AML", "id": "ID",
           "dvp": "DVP", "http": "HTTP", "usd": "USD", "var": "VaR", "base64": "base64",
           "pii": "PII", "nul": "NUL"}


def title_of(code: str) -> str:
    """`malformed_json` -> "Malformed JSON", `invalid_api_key` -> "Invalid API key"."""
    words = [_PROPER.get(word, word) for word in code.split("_")]
    if words and words[0] == words[0].lower():
        words[0] = words[0].capitalize()
    return " ".join(words)


class ApiProblem(Exception):
    """Raised by the HTTP layer itself (auth, content type, malformed JSON)."""

    def __init__(self, status: int, code: str, detail: str,
                 errors: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.errors = errors or []
        self.headers = headers or {}


def problem_body(status: int, code: str, detail: str,
                 errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title_of(code),
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors:
        body["errors"] = errors
    return body


def problem(status: int, code: str, detail: str, errors: list[dict[str, Any]] | None = None,
            headers: dict[str, str] | None = None) -> Response:
    body = problem_body(status, code, detail, errors)
    response = Response(json.dumps(body), status=status, mimetype="application/problem+json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def validation_problem(exc: ValidationError) -> dict[str, Any]:
    """The problem body of a request body that does not match its schema."""
    if any(e["type"] == "json_invalid" for e in exc.errors()):
        return problem_body(400, "malformed_json", "the request body is not valid JSON")
    errors = [
        {"field": ".".join(str(p) for p in e["loc"]) or "body", "code": e["type"],
         "message": e["msg"]}
        for e in exc.errors(include_url=False, include_input=False)
    ]
    return problem_body(422, "validation_failed", "the request body does not match the schema",
                        errors)


def from_validation_error(exc: ValidationError) -> Response:
    body = validation_problem(exc)
    return Response(json.dumps(body), status=body["status"], mimetype="application/problem+json")


_DOMAIN_STATUS: tuple[tuple[type[DomainError], int], ...] = (
    (InvalidInput, 422), (NotFound, 404), (Conflict, 409), (GuardFailed, 409),
)


def domain_problem(exc: DomainError) -> dict[str, Any]:
    """The problem body of a domain refusal."""
    status = next((s for cls, s in _DOMAIN_STATUS if isinstance(exc, cls)), 400)
    errors = [{"field": exc.field, "code": exc.code, "message": exc.message}] if exc.field else None
    return problem_body(status, exc.code, exc.message, errors)


def from_domain_error(exc: DomainError) -> Response:
    body = domain_problem(exc)
    return Response(json.dumps(body), status=body["status"], mimetype="application/problem+json")
