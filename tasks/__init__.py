"""Celery entrypoint: `celery -A tasks worker`. Tasks are thin adapters over app.services."""

from tasks.celery_app import celery_app

app = celery_app

__all__ = ["app", "celery_app"]
