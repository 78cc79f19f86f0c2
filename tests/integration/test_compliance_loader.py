"""`fusion-prime sanctions load`: the OFAC layout into a versioned list in Postgres."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from app.persistence.compliance_models import (
    SanctionsAddress,
    SanctionsEntry,
    SanctionsListVersion,
    SanctionsLocation,
    SanctionsName,
)
from app.persistence.db import unit_of_work
from app.services.compliance.lists import active_version
from app.services.compliance.sanctions_loader import load_directory

pytestmark = pytest.mark.integration
SMALL = Path(__file__).resolve().parent.parent / "data" / "ofac-sdn-small"


def _count(model: type, version_id: int, *where: object) -> int:
    with unit_of_work() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(
            model.version_id == version_id, *where)) or 0)  # type: ignore[attr-defined]


def load(directory: Path = SMALL) -> int:
    with unit_of_work() as session:
        return load_directory(session, directory, rescreen_after=False).version_id


def test_the_small_list_is_loaded_with_entries_aliases_and_addresses(
        service_env: dict[str, str]) -> None:
    version = load()
    assert _count(SanctionsEntry, version) == 17
    assert _count(SanctionsName, version) == 17 + 28
    assert _count(SanctionsName, version, SanctionsName.kind == "remark_aka") == 15
    assert _count(SanctionsAddress, version) == 21
    assert _count(SanctionsLocation, version) == 19
    with unit_of_work() as session:
        remark = session.scalars(select(SanctionsName).where(
            SanctionsName.version_id == version, SanctionsName.name == "LOCKBITSUPP")).one()
        assert (remark.uid, remark.kind, remark.normalised) == (48603, "remark_aka",
                                                                "lockbitsupp")
        primary = session.scalars(select(SanctionsName).where(
            SanctionsName.version_id == version, SanctionsName.uid == 48603,
            SanctionsName.kind == "primary")).one()
        assert primary.normalised == "dmitry khoroshev yuryevich"
        eth = session.scalars(select(SanctionsAddress).where(
            SanctionsAddress.version_id == version,
            SanctionsAddress.address_lower == "0x901bb9583b24d97e995513c6778dc6888ab6870e")).one()
        assert (eth.uid, eth.currency) == (29702, "ETH")
        summary = session.get(SanctionsListVersion, version)
        assert summary is not None
        assert (summary.entry_count, summary.alias_count, summary.address_count) == (17, 28, 21)


def test_loading_the_same_files_again_changes_nothing(service_env: dict[str, str]) -> None:
    first = load()
    with unit_of_work() as session:
        again = load_directory(session, SMALL)
    assert (again.version_id, again.created, again.rescreen_run_id) == (first, False, None)


def test_a_changed_list_becomes_a_new_active_version(service_env: dict[str, str],
                                                     tmp_path: Path) -> None:
    original = load()
    changed = tmp_path / "sdn"
    shutil.copytree(SMALL, changed)
    with (changed / "sdn.csv").open("a", encoding="utf-8") as extra:
        extra.write('99001,"TESTLISTED, Person",individual,"TEST",-0- ,-0- ,-0- ,-0- ,-0- ,'
                    '-0- ,-0- ,"a.k.a. \'TPERSON\'."\n')
    try:
        newer = load(changed)
        assert newer != original
        assert _count(SanctionsEntry, newer) == 18
        with unit_of_work() as session:
            active = active_version(session)
            assert active is not None and active.version_id == newer
            old = session.get(SanctionsListVersion, original)
            assert old is not None and old.status == "superseded"
    finally:
        restored = load()  # the other tests screen against the small list
    assert restored not in (original, newer)


def test_the_cli_loads_and_reports(service_env: dict[str, str]) -> None:
    from cli.main import cli  # noqa: PLC0415 - after service_env's settings

    result = CliRunner().invoke(cli, ["sanctions", "load", str(SMALL), "--no-rescreen",
                                      "--json"])
    assert result.exit_code == 0, result.output
    assert '"entries": 17' in result.output
    again = CliRunner().invoke(cli, ["sanctions", "load", str(SMALL), "--no-rescreen"])
    assert again.exit_code == 0, again.output
    assert "entries:" in again.output and "17" in again.output
    assert "loading" in again.output and "nothing loaded" in again.output
    missing = CliRunner().invoke(cli, ["sanctions", "load", str(SMALL / "nope")])
    assert missing.exit_code != 0
