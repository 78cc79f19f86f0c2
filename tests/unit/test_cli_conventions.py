"""One output convention for `fusion-prime`: every command has a one-line help and every
list/show/status command takes --json."""

from __future__ import annotations

from collections.abc import Iterator

import click

from cli.main import cli

SHOWS = ("list", "show", "status", "gate", "screen", "wait", "seed")


def _commands(group: click.Group, path: str = "") -> Iterator[tuple[str, click.Command]]:
    for name, command in group.commands.items():
        full = f"{path} {name}".strip()
        yield full, command
        if isinstance(command, click.Group):
            yield from _commands(command, full)


def test_every_command_has_a_one_line_help() -> None:
    missing = [name for name, command in _commands(cli)
               if not command.get_short_help_str(limit=200).strip()]
    assert not missing, missing


def test_every_list_and_show_command_takes_json() -> None:
    without = [name for name, command in _commands(cli)
               if name.split()[-1] in SHOWS
               and "--json" not in {o for p in command.params for o in p.opts}]
    assert not without, without
