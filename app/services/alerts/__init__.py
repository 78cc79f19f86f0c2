"""Alert notifications (DOMAIN.md §5): subscriptions, preferences, fan-out and deliveries."""
