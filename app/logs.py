"""JSON log lines through structlog, with task, command and message ids bound per unit of work.

Every process calls `configure_logging` once; stdlib loggers (Celery, gunicorn, SQLAlchemy) are
routed through the same renderer so a single line format reaches the log collector.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

import structlog

# A field whose name contains one of these is never rendered, whoever logged it.
SECRET_KEY_PARTS = ("authorization", "password", "secret", "api_key", "apikey", "token", "pepper",
                    "encryption_key", "private_key", "cookie")

# Adds ids (task, command, message) a log record does not carry itself: an adapter that knows
# where they live (Celery's current task, a library's `extra`) registers one; see add_context.
ContextSource = Callable[[logging.LogRecord | None], Mapping[str, str | None]]
_context_sources: list[ContextSource] = []
# Process-wide rather than a context variable: threads (Pub/Sub callbacks, gunicorn's, a
# metrics scrape's) start with an empty context and their lines must name the service too.
_service = "fusion-prime"


def add_context(source: ContextSource) -> None:
    """Register a source of ids for every line of this process (bound values take precedence)."""
    if source not in _context_sources:
        _context_sources.append(source)


def set_service(service: str) -> None:
    global _service  # noqa: PLW0603 - one name per process, set at startup
    _service = service


def _add_service(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    event.setdefault("service", _service)
    return event


def _merge_sources(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    record = event.get("_record")
    for source in _context_sources:
        try:
            extra = source(record if isinstance(record, logging.LogRecord) else None)
        except Exception:  # noqa: S112 - a context source must never cost the log line
            continue
        for key, value in extra.items():
            if value is not None:
                event.setdefault(key, value)
    return event


def _redact(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    for key in list(event):
        lowered = key.lower()
        if any(part in lowered for part in SECRET_KEY_PARTS):
            event[key] = "[redacted]"
    return event


def _log_uncaught(kind: type[BaseException], exc: BaseException,
                  tb: TracebackType | None) -> None:
    # A crash's traceback is a JSON line like any other, not raw text in the stream.
    logging.getLogger("uncaught").critical("process.crashed", exc_info=(kind, exc, tb))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is not None:
        logging.getLogger("uncaught").critical(
            "thread.crashed", exc_info=(args.exc_type, args.exc_value, args.exc_traceback))


def configure_logging(service: str, level: str = "INFO", *, json: bool = True) -> None:
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        _add_service,
        _merge_sources,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.PositionalArgumentsFormatter(),
        _redact,
    ]
    renderer: Any = (structlog.processors.JSONRenderer() if json
                     else structlog.dev.ConsoleRenderer(colors=False))
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        # Celery passes task args, kwargs and return values as `extra`: they may hold personal
        # data and they cost a serialisation per line, so foreign extras are not rendered.
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Library warnings and crashes would otherwise reach stderr as raw text.
    logging.captureWarnings(True)
    if json:
        sys.excepthook = _log_uncaught
        threading.excepthook = _log_uncaught_in_thread
    set_service(service)


def bind(**ids: str | None) -> None:
    structlog.contextvars.bind_contextvars(**{k: v for k, v in ids.items() if v is not None})


def clear(*keys: str) -> None:
    structlog.contextvars.unbind_contextvars(*keys)


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
