"""The web app's connection pool: a connection is pinged before use only when it sat idle a while.

SQLAlchemy's pool_pre_ping spends a round trip on every checkout, ~5% of the web workers' CPU under
bench.api's creates. A connection given back a moment ago is alive but for a restart in between; one
idle for IDLE_PING_SECONDS may have been closed by a restart, a proxy or an idle timeout, so it is
pinged first and, if dead, the pool is refreshed as pre-ping would. A connection that died while it
was idle for less than that fails its request like an outage does (503 with Retry-After, see
web.errors), and SQLAlchemy then replaces every pooled connection older than the failure.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Flask
from sqlalchemy import Engine, event, exc
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

IDLE_PING_SECONDS = 1.0
_RETURNED_AT = "todo_returned_at"


def init_app(app: Flask) -> None:
    """Ping the app's pooled connections before use when they sat idle (replaces pool_pre_ping)."""
    from web.extensions import db

    with app.app_context():
        watch_idle_connections(db.engine)


def watch_idle_connections(engine: Engine) -> None:
    """Note when each connection returns to the pool, and ping one that sat idle before lending it."""
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
