"""Party and account identifiers: customer account ids and chain addresses, and the namespaces
the ledger keeps for itself."""

from __future__ import annotations

import re

from app.domain.errors import InvalidInput
from app.domain.escrow import normalise_party

EXTERNAL_PREFIX = "external:"
ESCROW_PREFIX = "escrow:"
RESERVED_PREFIXES = (EXTERNAL_PREFIX, ESCROW_PREFIX)
_ACCOUNT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$")


def is_zero_address(value: str) -> bool:
    """0x followed by zeros only: how the chain spells "nobody"."""
    text = value.strip().lower()
    return text.startswith("0x") and not text.removeprefix("0x").strip("0")


def check_account(value: str, field: str) -> str:
    """A customer account id or chain address (0x addresses lower-cased); the external and
    escrow namespaces belong to the ledger and are refused."""
    text = normalise_party(value)
    if not _ACCOUNT.match(text) or text.startswith(RESERVED_PREFIXES):
        raise InvalidInput(
            f"{field} must be 1-128 characters of letters, digits and _.:@- and must not start "
            f"with {' or '.join(RESERVED_PREFIXES)}", code="invalid_account", field=field)
    return text
