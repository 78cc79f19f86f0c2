"""Compliance use cases (DOMAIN.md §4), each taking the caller's session:

kyc (cases, sealed personal data) · aml (transaction checks) · alerts (their workflow) ·
sanctions_loader and lists (versioned OFAC SDN lists) · screening and screening_index (names
and crypto addresses) · rescreen (the batch after a new list) · gate (clear/review/blocked for
settlement) · pricing (the USD valuation seam) · pii (AES-GCM for personal data).
"""
