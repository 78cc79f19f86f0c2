"""The private servers are durable unless the caller asks for the fast settings (issue 13: a
202'd command was lost to an immediate PostgreSQL restart on `synchronous_commit=off`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import devstack

UNSAFE_PG = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


def test_postgres_is_durable_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(devstack.FAST_UNSAFE_ENV, raising=False)
    assert not devstack.fast_unsafe_requested()
    opts = devstack.postgres_options(5432, Path("/run"), fast_unsafe=False)
    assert not any(flag in opts for flag in UNSAFE_PG)
    assert all(f"-c {flag}" in opts for flag in
               ("fsync=on", "synchronous_commit=on", "full_page_writes=on"))


def test_fast_settings_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(devstack.FAST_UNSAFE_ENV, "1")
    assert devstack.fast_unsafe_requested()
    opts = devstack.postgres_options(5432, Path("/run"), fast_unsafe=True)
    assert all(flag in opts for flag in UNSAFE_PG)


def test_redis_keeps_an_append_only_file_synced_every_second() -> None:
    flags = devstack.redis_persistence(fast_unsafe=False)
    assert flags[flags.index("--appendonly") + 1] == "yes"
    assert flags[flags.index("--appendfsync") + 1] == "everysec"
    fast = devstack.redis_persistence(fast_unsafe=True)
    assert fast[fast.index("--appendonly") + 1] == "no"


def test_the_command_line_flag_and_the_environment_choose_fast(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: list[bool] = []
    monkeypatch.setattr(devstack, "_up", lambda _d, _e, *, fast_unsafe: seen.append(fast_unsafe))
    monkeypatch.delenv(devstack.FAST_UNSAFE_ENV, raising=False)
    devstack.main(["up", "--dir", str(tmp_path)])
    devstack.main(["up", "--dir", str(tmp_path), "--fast-unsafe"])
    monkeypatch.setenv(devstack.FAST_UNSAFE_ENV, "1")
    devstack.main(["up", "--dir", str(tmp_path)])
    assert seen == [False, True, True]
