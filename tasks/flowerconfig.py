"""Flower's configuration file: `celery -A tasks flower --conf=tasks/flowerconfig.py ...`.

Flower executes this file (tornado's parse_config_file) rather than importing it. Its only job
is logging: Flower and tornado log through the standard library, so after this every Flower line
is JSON like every other process's (tornado then adds no handler of its own, since the root
logger already has one). Options such as basic auth stay in FLOWER_* variables or flags.
"""

from app.config import get_settings
from app.logs import configure_logging

_settings = get_settings()
configure_logging("flower", _settings.log_level, json=_settings.log_json)
