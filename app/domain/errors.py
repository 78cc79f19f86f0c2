"""Domain errors carry a stable machine-readable code; adapters map them to HTTP or task results."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every refusal the domain makes. `code` is part of the public contract."""

    code = "domain_error"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.field = field


class InvalidInput(DomainError):
    """The request itself is wrong (bad amount, unknown asset, payer = payee...)."""

    code = "invalid_input"


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    """The request clashes with what is stored (idempotency key reused with another body...)."""

    code = "conflict"


class GuardFailed(DomainError):
    """A state machine refused a transition; `code` says which guard."""

    code = "guard_failed"


class InsufficientFunds(GuardFailed):
    code = "insufficient_funds"


class Held(DomainError):
    """Not refused, not yet allowed: the command waits (in `received`) and is tried again."""

    code = "held"
