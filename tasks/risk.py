"""risk tasks (queue `risk`, and `batch` for batch jobs)."""

from __future__ import annotations
