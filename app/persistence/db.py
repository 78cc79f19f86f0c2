"""Engine, sessions and the unit of work. One transaction per unit of work; commit explicitly."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from app.config import get_settings


@lru_cache(maxsize=4)
def _engine_for(url: str, pool_size: int, pre_ping: bool) -> Engine:
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=pre_ping,
        pool_recycle=1800,
    )


def get_engine() -> Engine:
    settings = get_settings()
    return _engine_for(settings.database_url, settings.database_pool_size,
                       settings.database_pre_ping)


@lru_cache(maxsize=4)
def _factory_for(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def session_factory() -> sessionmaker[Session]:
    return _factory_for(get_engine())


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """Yield a session in a transaction: committed when the block ends, rolled back on error."""
    session = session_factory()()
    try:
        with session.begin():
            yield session
    finally:
        session.close()


def dispose_after_fork() -> None:
    """A forked child must not reuse the parent's sockets; drop them without closing them."""
    get_engine().dispose(close=False)
