"""gunicorn settings for the API: `gunicorn --config python:web.gunicorn_conf web.wsgi:app ...`.

* Prometheus multiprocess mode: every worker process writes its request counters to files in
  PROMETHEUS_MULTIPROC_DIR and /metrics sums them, whichever worker answers. The directory is
  taken from the environment or made here, and emptied when the master starts (files of an
  earlier run would otherwise be added to this one's counts).
* JSON logs: gunicorn's own lines (master and workers) and its access lines go through the
  same JSON renderer as the application's.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

# prometheus_client chooses its storage when it is first imported, so the variable is set
# before that import, here in the master, and every worker inherits it.
_CREATED_DIR = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _CREATED_DIR:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="fusion-api-metrics-")
METRICS_DIR = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])

from gunicorn.glogging import Logger  # noqa: E402
from prometheus_client import multiprocess  # noqa: E402

from app.config import get_settings  # noqa: E402
from app.logs import configure_logging, get_logger  # noqa: E402

access = get_logger("gunicorn.access")


class JsonLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger with its handlers removed: its records reach the root logger, which
    configure_logging gives the JSON renderer; access lines are structured like ours."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        settings = get_settings()
        configure_logging("api", settings.log_level, json=settings.log_json)
        for logger in (self.error_log, self.access_log):
            logger.handlers.clear()
            logger.propagate = True

    def access(self, resp: Any, req: Any, environ: dict[str, Any],
               request_time: Any) -> None:
        if not self.cfg.accesslog:
            return
        # No query string, client address or headers: they may carry personal data or keys.
        access.info("http.access", method=environ.get("REQUEST_METHOD"),
                    path=environ.get("PATH_INFO"), status=getattr(resp, "status_code", None),
                    bytes=getattr(resp, "sent", None),
                    duration_ms=round(request_time.total_seconds() * 1000, 2))


logger_class = JsonLogger


def on_starting(server: Any) -> None:
    METRICS_DIR.mkdir(parents=True, exist_ok=True)
    for stale in METRICS_DIR.glob("*.db"):
        stale.unlink(missing_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    # Gauges of a dead worker stop counting; its counters stay in the sums (they happened).
    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def on_exit(server: Any) -> None:
    if _CREATED_DIR:
        with contextlib.suppress(OSError):
            shutil.rmtree(METRICS_DIR)

