"""Secondary attributes of a screening (DOMAIN.md §4): date of birth, country, entity type.

A screening request may say when the party was born (a date or a year), its nationality or
country, and what it is (individual, entity, vessel, aircraft). A listed entry states its own in
the list's remarks ("DOB 10 Dec 1948; alt. DOB 1949; nationality Syria; citizen Iran"), its
addresses and its type. Compared with a name hit:

* date of birth: the same year (or the same date) as one of the entry's confirms; a year more
  than one year from all of them contradicts (one year either way is neither: lists write
  "circa" and ranges, and calendars differ).
* country: one of the entry's nationalities or citizenships confirms, and so does one of its
  address countries; a country that is none of these, where the entry states a nationality,
  contradicts. Addresses alone never contradict: people and companies live abroad.
* entity type: a person against a company, vessel or aircraft (or the other way) contradicts;
  the same type neither confirms nor contradicts (most names say what they are).

The rule (`apply`): any contradiction turns a name `match` into `possible`, for a reviewer to
look at. With no contradiction, a confirmed date of birth lifts `possible` to `match`, and so
does a confirmed country when the name alone scored at the match threshold but could not block
by itself (two tokens, one of them a near spelling). A `clear` stays `clear`: attributes never
create a hit. What each attribute did is recorded on the hit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from app.domain.compliance.matching import Decision

ENTITY_TYPES = ("individual", "entity", "vessel", "aircraft")
_DOB = re.compile(
    r"\bDOB\s+(?:circa\s+)?((?:\d{1,2}\s+)?(?:[A-Za-z]{3}\s+)?\d{4})"
    r"(?:\s+to\s+((?:\d{1,2}\s+)?(?:[A-Za-z]{3}\s+)?\d{4}))?", re.IGNORECASE)
_NATIONALITY = re.compile(r"\b(?:nationality|citizen)\s+([^;.]+)", re.IGNORECASE)
_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
YEAR_SLACK = 1


@dataclass(frozen=True, slots=True)
class Requested:
    """What a screening request says about the party besides its names (all optional)."""

    birth_date: date | None = None
    birth_year: int | None = None
    country: str | None = None  # ISO 3166 alpha-2, lower case
    entity_type: str | None = None

    @property
    def year(self) -> int | None:
        return self.birth_date.year if self.birth_date else self.birth_year

    @property
    def empty(self) -> bool:
        return self.year is None and self.country is None and self.entity_type is None


@dataclass(frozen=True, slots=True)
class EntryFacts:
    """What a listed entry states about itself."""

    entity_type: str = "entity"
    birth_years: frozenset[int] = frozenset()
    birth_dates: frozenset[date] = frozenset()
    nationalities: frozenset[str] = frozenset()  # ISO alpha-2, lower case
    address_countries: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Evidence:
    confirmed: tuple[str, ...] = ()
    contradicted: tuple[str, ...] = ()
    details: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {"confirmed": list(self.confirmed), "contradicted": list(self.contradicted),
                **({"details": self.details} if self.details else {})}


def _parse_date(text: str) -> tuple[int, date | None]:
    parts = text.split()
    year = int(parts[-1])
    if len(parts) == 3 and parts[1][:3].lower() in _MONTHS:
        try:
            return year, date(year, _MONTHS[parts[1][:3].lower()], int(parts[0]))
        except ValueError:
            return year, None
    return year, None


def remark_births(remarks: str | None) -> tuple[frozenset[int], frozenset[date]]:
    """The years (ranges expanded) and full dates of birth the remarks give."""
    years: set[int] = set()
    dates: set[date] = set()
    for start, end in _DOB.findall(remarks or ""):
        first, exact = _parse_date(start)
        last = _parse_date(end)[0] if end else first
        years.update(range(first, max(first, last) + 1) if last - first <= 20 else (first,))
        if exact and not end:
            dates.add(exact)
    return frozenset(years), frozenset(dates)


def remark_nationalities(remarks: str | None) -> list[str]:
    """The country names the remarks give as nationality or citizenship, as written."""
    return [name.strip() for name in _NATIONALITY.findall(remarks or "") if name.strip()]


def compare(requested: Requested, facts: EntryFacts) -> Evidence:
    confirmed: list[str] = []
    contradicted: list[str] = []
    details: dict[str, str] = {}
    year = requested.year
    if year is not None and facts.birth_years:
        if (requested.birth_date in facts.birth_dates) or year in facts.birth_years:
            confirmed.append("date_of_birth")
        elif all(abs(year - listed) > YEAR_SLACK for listed in facts.birth_years):
            contradicted.append("date_of_birth")
            details["date_of_birth"] = ", ".join(str(y) for y in sorted(facts.birth_years))
    country = requested.country
    if country is not None:
        if country in facts.nationalities or country in facts.address_countries:
            confirmed.append("country")
        elif facts.nationalities:
            contradicted.append("country")
            details["country"] = ", ".join(sorted(facts.nationalities))
    kind = requested.entity_type
    if kind is not None and (kind == "individual") != (facts.entity_type == "individual"):
        contradicted.append("entity_type")
        details["entity_type"] = facts.entity_type
    return Evidence(tuple(confirmed), tuple(contradicted), details)


def apply(decision: Decision, evidence: Evidence, *, name_at_match: bool) -> Decision:
    """The decision after the attributes (see the module's docstring); `name_at_match` says
    the name scored at the match threshold without being decisive alone."""
    if evidence.contradicted:
        return Decision.POSSIBLE if decision is Decision.MATCH else decision
    if decision is Decision.POSSIBLE and (
            "date_of_birth" in evidence.confirmed
            or ("country" in evidence.confirmed and name_at_match)):
        return Decision.MATCH
    return decision
