"""The transactional outbox: events written with their change, published after commit."""

from __future__ import annotations

import atexit
import os
import threading

from flask import Flask
from sqlalchemy.pool import NullPool

from shared.db import make_engine
from shared.settings import Settings

_lock = threading.Lock()
_started_in: int | None = None


def init_app(app: Flask) -> None:
    """Register `flask --app web relay` and `outbox`; run the relay in this process when RELAY_ENABLED."""
    from web.outbox.commands import relay_command
    from web.outbox.parking import outbox_group

    app.cli.add_command(relay_command)
    app.cli.add_command(outbox_group)
    settings: Settings = app.config["TODO_SETTINGS"]
    if not settings.relay_enabled:
        return

    @app.before_request
    def _ensure_relay() -> None:
        """Start this process's relay on its first request: threads must not exist before gunicorn forks."""
        start_relay(settings)


def start_relay(settings: Settings) -> None:
    """Start one relay thread per process (a forked worker starts its own)."""
    global _started_in
    if _started_in == os.getpid():
        return
    with _lock:
        if _started_in == os.getpid():
            return
        from web.outbox.publishers import make_publisher
        from web.outbox.relay import Relay

        engine = make_engine(settings, poolclass=NullPool)
        relay = Relay(
            engine=engine, publisher=make_publisher(settings), settings=settings, name=f"relay-{os.getpid()}"
        )
        relay.start()
        atexit.register(relay.stop)
        _started_in = os.getpid()
