"""Message contracts (DOMAIN.md §1): topology, inbound decoding. No google-cloud imports."""
