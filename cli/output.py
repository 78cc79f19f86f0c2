"""One output convention for every command: a table with headers (or `name: value` lines)
for people, `--json` for programs, and an empty list that says so."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True,
                        help="Machine-readable output (JSON).")(func)


def echo_json(value: object) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value) or "-"
    return str(value).replace("\n", " ")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, empty: str,
          widest: int = 60) -> None:
    """Columns padded to their widest cell (capped at `widest`); `empty` when no rows."""
    if not rows:
        click.echo(empty)
        return
    cells = [[_cell(v)[:widest] for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    for line in (list(headers), *cells):
        click.echo("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())


def fields(values: Mapping[str, object]) -> None:
    """One `name: value` line per field; nested values as compact JSON."""
    width = max((len(k) for k in values), default=0) + 1
    for name, value in values.items():
        shown = (json.dumps(value, default=str) if isinstance(value, (dict, list))
                 else _cell(value))
        click.echo(f"{name + ':':<{width}} {shown}")
