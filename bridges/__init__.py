"""Pub/Sub relays: inbound (subscriptions → Celery) and outbound (outbox → topics)."""
