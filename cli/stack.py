"""Which stack `fusion-prime` talks to, and one line saying so when it cannot be reached.

DATABASE_URL and CELERY_BROKER_URL from the environment win. When they are unset the CLI reads
the `.fusion/env.sh` that `make run` (or `make services-up`) wrote for the checkout it is run
in: the nearest one from the current directory upwards, else this package's own checkout
(FUSION_DATA_DIR names another data dir). Without either it refuses rather than fall back to
the settings' defaults, where another program's PostgreSQL or Redis may well answer.
"""

from __future__ import annotations

import os
import shlex
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import click

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = ("DATABASE_URL", "CELERY_BROKER_URL")


@dataclass(frozen=True)
class Source:
    """Where the stack's addresses came from, as the error messages name it."""

    description: str
    looked_in: tuple[Path, ...] = ()
    found: bool = True


def candidates(cwd: Path) -> list[Path]:
    if os.environ.get("FUSION_DATA_DIR"):
        return [Path(os.environ["FUSION_DATA_DIR"]).resolve() / "env.sh"]
    found = [d / ".fusion" / "env.sh" for d in (cwd, *cwd.parents)]
    own = ROOT / ".fusion" / "env.sh"
    return found if own in found else [*found, own]


def parse_env_file(path: Path) -> dict[str, str]:
    """The `export NAME=value` lines devstack and run.py write (shell-quoted values)."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        words = shlex.split(line, comments=True)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            name, value = words[1].split("=", 1)
            values[name] = value
    return values


def locate(cwd: Path | None = None) -> Source:
    """Fill the stack's variables into os.environ from the checkout's env.sh when unset."""
    if all(os.environ.get(name) for name in REQUIRED):
        return Source("from the environment")
    looked = candidates(cwd or Path.cwd())
    for path in looked:
        if path.is_file():
            for name, value in parse_env_file(path).items():
                os.environ.setdefault(name, value)
            return Source(f"from {path}, written by make run", tuple(looked))
    return Source("", tuple(looked), found=False)


def require(source: Source) -> None:
    missing = [name for name in REQUIRED if not os.environ.get(name)]
    if not missing:
        return
    names = " and ".join(missing)
    if source.found:
        where = f"{source.description.removeprefix('from ').split(',')[0]} does not set it"
    elif len(source.looked_in) == 1:
        where = f"no {source.looked_in[0]}"
    else:
        cwd = source.looked_in[0].parent.parent if source.looked_in else Path.cwd()
        where = f"no .fusion/env.sh in {cwd} or its parents, nor in {ROOT}"
    raise click.ClickException(f"no Fusion Prime stack found: {names} unset and {where}; "
                               f"start one with `make run` in the checkout (or set {names})")


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _first_line(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    return lines[0] if lines else type(cause).__name__


def unreachable(server: str, variable: str, source: Source, exc: BaseException) -> str:
    url = _without_password(os.environ.get(variable, "?"))
    hint = "; is make run still running?" if "make run" in source.description else ""
    return (f"cannot reach {server} at {url} ({variable} {source.description}{hint}): "
            f"{_first_line(exc)}")


def check_pubsub(emulator_host: str | None, project: str) -> None:
    """An unreachable emulator is one line at once; its client would retry without end."""
    if not emulator_host:
        return
    host, _, port = emulator_host.rpartition(":")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=3).close()
    except (OSError, ValueError) as exc:
        raise click.ClickException(
            f"cannot reach the Pub/Sub emulator at {emulator_host} (PUBSUB_EMULATOR_HOST, "
            f"project {project}): {exc}") from exc
