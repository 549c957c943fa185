"""The todo-platform web app: accounts, tasks, pages and the JSON API."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click
from flask import Flask

from shared.logs import configure_logging
from shared.settings import Settings, SettingsError, get_settings
from web import headers
from web.config import flask_config
from web.extensions import csrf, db, jwt, migrate
from web.requests import BigIntConverter

FRONTEND = Path(__file__).resolve().parent.parent / "frontend"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def create_app(test_config: dict[str, Any] | None = None, *, settings: Settings | None = None) -> Flask:
    """Build the app: configuration, extensions, blueprints, error handlers."""
    settings = settings or _settings()
    _configure_logging(settings)
    app = Flask(
        __name__,
        template_folder=str(FRONTEND / "templates"),
        static_folder=str(FRONTEND / "static"),
    )
    app.config.from_mapping(flask_config(settings))
    if test_config:
        app.config.from_mapping(test_config)
    app.url_map.converters["int"] = BigIntConverter
    _init_extensions(app)
    headers.init_app(app, settings)
    _register_blueprints(app)
    return app


def _settings() -> Settings:
    """The process settings; under the flask CLI a bad one is a one-line error and exit 2, not a traceback."""
    try:
        settings = get_settings()
        if not settings.database_url:
            raise SettingsError("DATABASE_URL must be set (a postgresql:// URL)")
        return settings
    except SettingsError as exc:
        if click.get_current_context(silent=True) is None:
            raise
        usage = click.ClickException(str(exc))
        usage.exit_code = 2
        raise usage from None


def _configure_logging(settings: Settings) -> None:
    """Give the app's own loggers (relay, services) our handler unless one exists (gunicorn's config)."""
    if not logging.getLogger().handlers:
        configure_logging(settings)


def _init_extensions(app: Flask) -> None:
    """Bind the extension objects and the app's own subsystems."""
    from web import audit, database, errors, metrics, outbox, request_ids, sessions, templating

    request_ids.init_app(app)
    metrics.init_app(app)
    db.init_app(app)
    database.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS))
    jwt.init_app(app)
    csrf.init_app(app)
    errors.init_app(app)
    sessions.init_app(app)
    templating.init_app(app)
    outbox.init_app(app)
    audit.init_app(app)


def _register_blueprints(app: Flask) -> None:
    """Attach one blueprint per domain."""
    from web.audit import bp as audit_bp
    from web.auth import bp as auth_bp
    from web.health import bp as health_bp
    from web.openapi import bp as openapi_bp
    from web.tasks import bp as tasks_bp
    from web.webhooks import bp as webhooks_bp

    for blueprint in (auth_bp, tasks_bp, audit_bp, health_bp, webhooks_bp, openapi_bp):
        app.register_blueprint(blueprint)
