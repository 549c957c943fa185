"""`flask --app web relay`: the outbox relay as a process of its own, for deployments that want it apart."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import with_appcontext

from shared.settings import Settings


@click.command("relay")
@with_appcontext
def relay_command() -> None:
    """Publish outbox events to Kafka until SIGINT/SIGTERM.

    Run it with RELAY_ENABLED=false on the web app. Any number may run: a PostgreSQL advisory
    lock keeps exactly one publishing, and another takes over within RELAY_POLL_SECONDS.
    """
    from web.outbox.service import run_relay

    settings: Settings = current_app.config["TODO_SETTINGS"]
    sys.exit(run_relay(settings=settings))
