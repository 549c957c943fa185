"""The todo-platform web app: accounts, tasks, pages and the JSON API."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Flask

from shared.settings import Settings, get_settings
from web.config import flask_config
from web.extensions import csrf, db, jwt, migrate

FRONTEND = Path(__file__).resolve().parent.parent / "frontend"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def create_app(test_config: dict[str, Any] | None = None, *, settings: Settings | None = None) -> Flask:
    """Build the app: configuration, extensions, blueprints, error handlers."""
    settings = settings or get_settings()
    _configure_logging(settings)
    app = Flask(
        __name__,
        template_folder=str(FRONTEND / "templates"),
        static_folder=str(FRONTEND / "static"),
    )
    app.config.from_mapping(flask_config(settings))
    if test_config:
        app.config.from_mapping(test_config)
    _init_extensions(app)
    _register_blueprints(app)
    return app


def _configure_logging(settings: Settings) -> None:
    """Give the app's own loggers (relay, services) a handler at LOG_LEVEL unless one exists."""
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )


def _init_extensions(app: Flask) -> None:
    """Bind the extension objects and the app's own subsystems."""
    from web import errors, outbox, sessions, templating

    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS))
    jwt.init_app(app)
    csrf.init_app(app)
    errors.init_app(app)
    sessions.init_app(app)
    templating.init_app(app)
    outbox.init_app(app)


def _register_blueprints(app: Flask) -> None:
    """Attach one blueprint per domain."""
    from web.audit import bp as audit_bp
    from web.auth import bp as auth_bp
    from web.health import bp as health_bp
    from web.tasks import bp as tasks_bp

    for blueprint in (auth_bp, tasks_bp, audit_bp, health_bp):
        app.register_blueprint(blueprint)
