"""Pure domain: standard library only (no SQLAlchemy, Flask, Celery or google-cloud)."""
