"""compliance tasks (queue `compliance`, and `batch` for batch jobs)."""

from __future__ import annotations
