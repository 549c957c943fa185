"""Engine and session helpers for code that runs without Flask (the worker, tools, tests)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeAlias

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, scoped_session, sessionmaker

from shared.settings import Settings

# Service functions take either a plain session (worker, tools) or Flask-SQLAlchemy's scoped one.
SessionLike: TypeAlias = Session | scoped_session[Any]


def make_engine(settings: Settings, **options: object) -> Engine:
    """An engine for DATABASE_URL that survives server restarts (pre-ping)."""
    if not settings.database_url:
        raise RuntimeError("DATABASE_URL is not set")
    return create_engine(settings.sqlalchemy_url(), pool_pre_ping=True, **options)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session
