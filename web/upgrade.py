"""Applying the migrations from code (dev stack, tests) exactly as `flask --app web db upgrade` does.

With worker_role, then the worker's login role as `flask --app web db roles` makes it: the
release the migrations Job runs, in one app.
"""

from __future__ import annotations

from flask_migrate import upgrade

from shared.settings import Settings


def upgrade_database(settings: Settings, *, worker_role: bool = False) -> None:
    """Bring the database at DATABASE_URL to the newest schema, then (if asked) grant the worker's role."""
    from web import create_app

    app = create_app(settings=settings)
    with app.app_context():
        upgrade()
        from web.extensions import db

        if worker_role:
            from web.roles import ensure_worker_role, worker_login

            role, password = worker_login(settings)
            with db.engine.begin() as conn:
                ensure_worker_role(conn=conn, role=role, password=password)
        db.engine.dispose()
