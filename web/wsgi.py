"""gunicorn entrypoint: `gunicorn web.wsgi:app`."""

from app.config import get_settings
from app.logs import configure_logging
from web import create_app

_settings = get_settings()
configure_logging("api", _settings.log_level, json=_settings.log_json)
app = create_app(_settings)
