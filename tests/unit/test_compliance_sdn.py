"""The OFAC SDN CSV layout, parsed from the 17-entry subset in tests/data."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.domain.compliance.sdn import ParsedList, parse, remark_addresses, remark_aliases

SMALL = Path(__file__).resolve().parent.parent / "data" / "ofac-sdn-small"


@pytest.fixture(scope="module")
def small() -> ParsedList:
    def read(name: str) -> str:
        return (SMALL / name).read_text(encoding="utf-8")

    return parse(read("sdn.csv"), read("alt.csv"), read("add.csv"))


def test_entries_and_aliases_are_counted(small: ParsedList) -> None:
    assert len(small.entries) == 17
    kinds = [a.kind for e in small.entries.values() for a in e.aliases]
    assert kinds.count("aka") == 13  # alt.csv rows whose entry is in the subset
    assert kinds.count("remark_aka") == 15
    assert small.alias_count == 28
    # The subset keeps alias and address rows whose entry it does not hold: counted, skipped.
    assert (small.orphan_aliases, small.orphan_addresses) == (5, 4)


def test_empty_markers_and_types(small: ParsedList) -> None:
    khoroshev = small.entries[48603]
    assert (khoroshev.name, khoroshev.sdn_type, khoroshev.programs) == (
        "KHOROSHEV, Dmitry Yuryevich", "individual", "CYBER2")
    assert khoroshev.title is None
    assert small.entries[11195].sdn_type == "entity"  # "-0- " in the file
    assert small.entries[52327].sdn_type == "vessel"


def test_aliases_come_from_alt_csv_and_from_the_remarks(small: ParsedList) -> None:
    names = {(a.name, a.kind) for a in small.entries[48603].aliases}
    assert ("KHOROSHEV, Dmitriy Yurevich", "aka") in names
    assert ("LOCKBITSUPP", "remark_aka") in names
    hesa = {a.name for a in small.entries[11195].aliases}
    assert {"HESA", "IAMI", "SHAHIN CO.", "HESA TRADE CENTER"} <= hesa


def test_digital_currency_addresses_come_from_the_remarks(small: ParsedList) -> None:
    counts = {uid: len(e.crypto_addresses) for uid, e in small.entries.items()
              if e.crypto_addresses}
    assert counts == {29702: 6, 33151: 14, 48603: 1}
    lifshits = {(a.currency, a.address) for a in small.entries[29702].crypto_addresses}
    assert ("ETH", "0x901bb9583b24d97e995513c6778dc6888ab6870e") in lifshits
    assert ("DASH", "Xs3vzQmNvAxRa3Xo8XzQqUb3BMgb9EogF4") in lifshits


def test_postal_addresses_are_kept_with_empty_fields_dropped(small: ParsedList) -> None:
    assert sum(len(e.locations) for e in small.entries.values()) == 19
    assert small.entries[48603].locations[0].country == "Russia"
    assert small.entries[48603].locations[0].address is None


def test_the_end_of_file_marker_and_blank_lines_are_ignored() -> None:
    parsed = parse('1,"ONE, Person","individual",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n'
                   '\r\n\x1a')
    assert list(parsed.entries) == [1]


def test_remark_parsers() -> None:
    remarks = ("a.k.a. 'ALPHA'; f.k.a. 'BETA'; Digital Currency Address - ETH 0xAbC123; "
               "alt. Digital Currency Address - ETH 0xabc123; Digital Currency Address - XBT 1Zz9")
    assert [(a.name, a.kind) for a in remark_aliases(remarks)] == [
        ("ALPHA", "remark_aka"), ("BETA", "remark_fka")]
    assert [(a.currency, a.address) for a in remark_addresses(remarks)] == [
        ("ETH", "0xAbC123"), ("XBT", "1Zz9")]
