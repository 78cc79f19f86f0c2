"""Alerts and notifications (DOMAIN.md §5): pure rules, no I/O."""
