"""Pub/Sub client factories and resource names, all derived from Settings."""

from __future__ import annotations

import os

from google.cloud import pubsub_v1

from app.config import Settings


def _point_at_emulator(settings: Settings) -> None:
    # The client library reads PUBSUB_EMULATOR_HOST itself (and then skips credentials);
    # setting it here makes a Settings-only configuration (e.g. a .env file) work too.
    if settings.pubsub_emulator_host:
        os.environ["PUBSUB_EMULATOR_HOST"] = settings.pubsub_emulator_host


def topic_path(settings: Settings, topic: str) -> str:
    return f"projects/{settings.pubsub_project_id}/topics/{topic}"


def subscription_path(settings: Settings, name: str) -> str:
    return f"projects/{settings.pubsub_project_id}/subscriptions/{name}"


def publisher(
    settings: Settings, *, batch: pubsub_v1.types.BatchSettings | None = None
) -> pubsub_v1.PublisherClient:
    """A publisher with message ordering on: every outbox message carries an ordering key."""
    _point_at_emulator(settings)
    options = pubsub_v1.types.PublisherOptions(enable_message_ordering=True)
    if batch is None:
        return pubsub_v1.PublisherClient(publisher_options=options)
    return pubsub_v1.PublisherClient(batch_settings=batch, publisher_options=options)


def subscriber(settings: Settings) -> pubsub_v1.SubscriberClient:
    _point_at_emulator(settings)
    return pubsub_v1.SubscriberClient()
