"""Alembic environment: the URL comes from the one Settings object."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

import app.persistence.alerts_models  # registers the alerts tables
import app.persistence.batch_models  # registers the reconciliation tables
import app.persistence.compliance_models  # registers the compliance tables
import app.persistence.risk_models  # noqa: F401 - registers the risk tables
from app.config import get_settings
from app.persistence.models import Base

target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(url=get_settings().database_url, target_metadata=target_metadata,
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = context.config.attributes.get("database_url") or get_settings().database_url
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
