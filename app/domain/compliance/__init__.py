"""Compliance domain (DOMAIN.md §4): KYC, AML rules, screening names, the settlement gate."""
