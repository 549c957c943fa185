"""Applying the migrations from code (dev stack, tests) exactly as `flask --app web db upgrade` does."""

from __future__ import annotations

from flask_migrate import upgrade

from shared.settings import Settings


def upgrade_database(settings: Settings) -> None:
    """Bring the database at DATABASE_URL to the newest schema."""
    from web import create_app

    app = create_app(settings=settings)
    with app.app_context():
        upgrade()
        from web.extensions import db

        db.engine.dispose()
