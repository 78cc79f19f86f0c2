"""The OFAC SDN CSV layout (sdn.csv, alt.csv, add.csv), parsed into plain records.

Quirks handled here: `-0- ` (with or without the trailing space) means empty; the files end with
a ^Z (0x1A) line; aliases also appear in the remarks as `a.k.a. '...'` (and `f.k.a.`, `n.k.a.`);
digital currency addresses appear in the remarks as `Digital Currency Address - ETH 0x...;`; and
alias or address rows may name an entry the file does not contain (a filtered extract), which
are counted and skipped.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

EMPTY = "-0-"
_REMARK_ALIAS = re.compile(r"\b([afn])\.k\.a\.,?\s+'([^']+)'", re.IGNORECASE)
_REMARK_ADDRESS = re.compile(
    r"Digital Currency Address - ([A-Za-z0-9]+)\s+([A-Za-z0-9:]+)", re.IGNORECASE)


def _value(raw: str) -> str | None:
    text = raw.strip()
    return None if not text or text == EMPTY else text


@dataclass(frozen=True, slots=True)
class Alias:
    name: str
    kind: str  # aka | fka | nka (alt.csv), or remark_aka | remark_fka | remark_nka


@dataclass(frozen=True, slots=True)
class CryptoAddress:
    currency: str
    address: str


@dataclass(frozen=True, slots=True)
class Location:
    address: str | None
    city: str | None
    country: str | None


@dataclass
class Entry:
    uid: int
    name: str
    sdn_type: str  # individual | vessel | aircraft | entity (the file leaves entities empty)
    programs: str | None
    title: str | None
    remarks: str | None
    aliases: list[Alias] = field(default_factory=list)
    crypto_addresses: list[CryptoAddress] = field(default_factory=list)
    locations: list[Location] = field(default_factory=list)


@dataclass
class ParsedList:
    entries: dict[int, Entry]
    orphan_aliases: int = 0
    orphan_addresses: int = 0

    @property
    def alias_count(self) -> int:
        return sum(len(e.aliases) for e in self.entries.values())


def _rows(text: str) -> Iterator[list[str]]:
    for row in csv.reader(io.StringIO(text)):
        # The publisher terminates each file with a lone ^Z; blank lines carry nothing either.
        if not row or (len(row) == 1 and row[0].strip() in ("", "\x1a")):
            continue
        yield row


def _uid(raw: str) -> int | None:
    text = raw.strip()
    return int(text) if text.isdigit() else None


def remark_aliases(remarks: str | None) -> list[Alias]:
    return [Alias(name.strip(), f"remark_{kind.lower()}ka")
            for kind, name in _REMARK_ALIAS.findall(remarks or "") if name.strip()]


def remark_addresses(remarks: str | None) -> list[CryptoAddress]:
    found: dict[str, CryptoAddress] = {}
    for currency, address in _REMARK_ADDRESS.findall(remarks or ""):
        found.setdefault(address.lower(), CryptoAddress(currency.upper(), address))
    return list(found.values())


def parse(sdn: str, alt: str = "", add: str = "") -> ParsedList:
    """Parse the three files' text. Aliases are de-duplicated per entry by exact name."""
    entries: dict[int, Entry] = {}
    for row in _rows(sdn):
        uid = _uid(row[0])
        if uid is None or len(row) < 2 or _value(row[1]) is None:
            continue
        cell = [_value(c) for c in row] + [None] * (12 - len(row))
        entry = Entry(uid=uid, name=str(cell[1]), sdn_type=cell[2] or "entity",
                      programs=cell[3], title=cell[4], remarks=cell[11])
        entry.aliases.extend(remark_aliases(entry.remarks))
        entry.crypto_addresses.extend(remark_addresses(entry.remarks))
        entries[uid] = entry
    parsed = ParsedList(entries)
    for row in _rows(alt):
        owner = entries.get(_uid(row[0]) or -1)
        name = _value(row[3]) if len(row) > 3 else None
        if owner is None or name is None:
            parsed.orphan_aliases += 1
            continue
        owner.aliases.append(Alias(name, (_value(row[2]) or "aka").lower().strip(".")))
    for row in _rows(add):
        owner = entries.get(_uid(row[0]) or -1)
        if owner is None:
            parsed.orphan_addresses += 1
            continue
        cells = [_value(c) for c in row] + [None] * (6 - len(row))
        if any(cells[2:5]):
            owner.locations.append(Location(cells[2], cells[3], cells[4]))
    for entry in entries.values():
        entry.aliases = _distinct(entry.name, entry.aliases)
    return parsed


def _distinct(primary: str, aliases: Iterable[Alias]) -> list[Alias]:
    # alt.csv wins over a remark alias of the same name: it is the published, strong alias.
    seen = {primary.casefold()}
    kept: list[Alias] = []
    for alias in sorted(aliases, key=lambda a: a.kind.startswith("remark_")):
        if alias.name.casefold() not in seen:
            seen.add(alias.name.casefold())
            kept.append(alias)
    return kept
