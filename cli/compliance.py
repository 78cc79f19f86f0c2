"""`fusion-prime sanctions ...` and `fusion-prime compliance ...`."""

from __future__ import annotations

import click


@click.group()
def sanctions() -> None:
    """Sanctions lists: load and screen."""


@click.group()
def compliance() -> None:
    """Compliance: KYC, AML, screening."""
