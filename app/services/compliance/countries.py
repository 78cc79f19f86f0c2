"""Country names and codes, as sanctions lists and screening requests write them."""

from __future__ import annotations

from functools import lru_cache

from rigour.territories import lookup_territory


@lru_cache(maxsize=4096)
def country_code(text: str) -> str | None:
    """The ISO 3166 alpha-2 code (lower case) of a country name or code ("Korea, North",
    "Russia", "DE"), or None when it names no country that rigour knows."""
    territory = lookup_territory(text.strip())
    return territory.code[:2].lower() if territory is not None and territory.code else None
