"""Every port `make run` listens on, chosen and checked before anything starts.

Ports named by a variable (FUSION_API_PORT, FLOWER_PORT, BRIDGE_METRICS_PORT, ...) are taken
as given, and refused up front when busy; a metrics port whose variable is unset is a free one
picked here, so two checkouts never collide on a default.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import devstack


class PortError(RuntimeError):
    """A port is malformed, busy, or given twice; the message lists every such port."""


@dataclass(frozen=True)
class Ports:
    api: int
    flower: int
    run_metrics: int
    bridge_metrics: int  # 0: the bridge serves no metrics (BRIDGE_METRICS_PORT=0)
    outbox_metrics: int


def _busy(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn does
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _given(variable: str, default: str | None, *, off_allowed: bool) -> int | None:
    """The port the variable names (its default when unset); None: unset without default."""
    raw = os.environ.get(variable, default or "").strip()
    if not raw:
        return None
    lowest = 0 if off_allowed else 1
    if not raw.isdigit() or not lowest <= int(raw) < 65536:
        raise PortError(f"{variable} must be a port number ({lowest}-65535), got {raw!r}")
    return int(raw)


def plan() -> Ports:
    wanted = {
        "FUSION_API_PORT": _given("FUSION_API_PORT", "8000", off_allowed=False),
        "FLOWER_PORT": _given("FLOWER_PORT", "5555", off_allowed=False),
        "FUSION_RUN_METRICS_PORT": _given("FUSION_RUN_METRICS_PORT", None, off_allowed=False),
        "BRIDGE_METRICS_PORT": _given("BRIDGE_METRICS_PORT", None, off_allowed=True),
        "OUTBOX_METRICS_PORT": _given("OUTBOX_METRICS_PORT", None, off_allowed=True),
    }
    problems: list[str] = []
    seen: dict[int, str] = {}
    for variable, port in wanted.items():
        if not port:
            continue
        if port in seen:
            problems.append(f"{variable} and {seen[port]} are both {port}")
        elif _busy(port):
            problems.append(f"port {port} ({variable}) on 127.0.0.1 is already in use")
        seen[port] = variable
    if problems:
        raise PortError("; ".join(problems) + ". Set each to a free port, e.g. "
                        "FUSION_API_PORT=8010 FLOWER_PORT=5565 make run")
    chosen = {v: (p if p is not None else devstack.free_port()) for v, p in wanted.items()}
    return Ports(api=chosen["FUSION_API_PORT"], flower=chosen["FLOWER_PORT"],
                 run_metrics=chosen["FUSION_RUN_METRICS_PORT"],
                 bridge_metrics=chosen["BRIDGE_METRICS_PORT"],
                 outbox_metrics=chosen["OUTBOX_METRICS_PORT"])
