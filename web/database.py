"""The web app's connection pool: a connection is pinged before use only when it sat idle a while.

SQLAlchemy's pool_pre_ping spends a round trip on every checkout, ~5% of the web workers' CPU under
bench.api's creates, so the pool pings only a connection idle for shared.db.IDLE_PING_SECONDS
(shared.db.ping_when_idle, which the worker uses too). A connection that died while it was idle
for less than that fails its request like an outage does (503 with Retry-After, see web.errors),
and SQLAlchemy then replaces every pooled connection older than the failure.
"""

from __future__ import annotations

from flask import Flask

from shared.db import ping_when_idle


def init_app(app: Flask) -> None:
    """Ping the app's pooled connections before use when they sat idle (replaces pool_pre_ping)."""
    from web.extensions import db

    with app.app_context():
        ping_when_idle(db.engine)
