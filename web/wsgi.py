"""gunicorn entrypoint: `gunicorn web.wsgi:app`."""

from app.config import get_settings
from app.logs import configure_logging
from tasks.celery_app import producer_only
from web import create_app

_settings = get_settings()
configure_logging("api", _settings.log_level, json=_settings.log_json)
producer_only()
app = create_app(_settings)
