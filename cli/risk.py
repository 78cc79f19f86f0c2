"""`fusion-prime risk ...`."""

from __future__ import annotations

import click


@click.group()
def risk() -> None:
    """Risk engine: prices, margin health, batch recompute."""
