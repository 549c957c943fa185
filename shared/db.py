"""Engine and session helpers for code that runs without Flask (the worker, tools, tests)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeAlias

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.orm import Session, scoped_session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from shared.settings import Settings

# Service functions take either a plain session (worker, tools) or Flask-SQLAlchemy's scoped one.
SessionLike: TypeAlias = Session | scoped_session[Any]

IDLE_PING_SECONDS = 1.0
_RETURNED_AT = "todo_returned_at"


def make_engine(settings: Settings, *, ping_idle_only: bool = False, **options: object) -> Engine:
    """An engine for DATABASE_URL that survives server restarts.

    Every checkout is pinged first (pool_pre_ping), or with ping_idle_only only a connection that
    sat idle a while (see ping_when_idle), for callers that retry a statement failed by a restart.
    """
    if not settings.database_url:
        raise RuntimeError("DATABASE_URL is not set")
    engine = create_engine(settings.sqlalchemy_url(), pool_pre_ping=not ping_idle_only, **options)
    if ping_idle_only:
        ping_when_idle(engine)
    return engine


def ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection before lending it only if it sat idle IDLE_PING_SECONDS or more.

    pool_pre_ping spends a round trip on every checkout. A connection given back a moment ago is
    alive but for a restart in between; one idle for a while may have been closed by a restart, a
    proxy or an idle timeout, so it is pinged first and, if dead, the pool is refreshed as
    pre-ping would. A connection that died while idle for less than that fails its statement with
    a disconnect error, and SQLAlchemy then replaces every pooled connection older than the failure.
    """
    dialect = engine.dialect

    def returned(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        """Remember when the connection came back."""
        record.info[_RETURNED_AT] = time.monotonic()

    def lent(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection) -> None:
        """Ping a connection idle for IDLE_PING_SECONDS or more; a dead one refreshes the pool."""
        returned_at = record.info.get(_RETURNED_AT)
        if returned_at is None or time.monotonic() - returned_at < IDLE_PING_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            raise exc.InvalidatePoolError("idle connection failed its ping") from error

    event.listen(engine, "checkin", returned)
    event.listen(engine, "checkout", lent)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session
