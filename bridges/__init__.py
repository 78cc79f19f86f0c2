"""Pub/Sub relays (inbound to Celery, outbox to Pub/Sub). Built in a later issue."""
