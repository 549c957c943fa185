"""`flask --app web db roles`: the stream worker's database login, allowed to append to audit_log only.

Run by the owner of the tables (DATABASE_URL, the role migrations run as) after every `db upgrade`.
The worker role may SELECT and INSERT audit_log and never UPDATE, DELETE or TRUNCATE it (the
audit_log_append_only trigger refuses those to every role but the owner even if granted); it
reads and writes the other tables its stores use (mail claims, webhook deliveries, ...). The
command is idempotent: it creates the role or resets its password, then re-applies the grants.
"""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from shared.settings import Settings
from web.extensions import db

# Tables the worker must not write at all: the migration bookkeeping.
WORKER_READ_NOTHING = ("alembic_version",)


FORMAT = text("SELECT format(:t, VARIADIC CAST(:v AS text[]))")


def _run(conn: Connection, template: str, *values: str) -> None:
    """Execute DDL whose identifiers (%I) and literals (%L) PostgreSQL's format() quotes."""
    statement = conn.scalar(FORMAT, {"t": template, "v": list(values)})
    conn.execute(text(str(statement)))


def ensure_worker_role(*, conn: Connection, role: str, password: str) -> None:
    """Create or update the worker's login role and give it exactly the worker's privileges."""
    exists = conn.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role})
    verb = "ALTER" if exists else "CREATE"
    _run(
        conn,
        f"{verb} ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT PASSWORD %L",
        role,
        password,
    )
    database, schema = conn.execute(text("SELECT current_database(), current_schema()")).one()
    _run(conn, "GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I", database, role)
    _run(conn, "GRANT USAGE ON SCHEMA %I TO %I", schema, role)
    # Every table the worker's stores use, including the ones later migrations add (this runs after
    # each upgrade): a missing grant would dead-letter events as refused by the database.
    _run(conn, "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO %I", schema, role)
    _run(conn, "GRANT USAGE ON ALL SEQUENCES IN SCHEMA %I TO %I", schema, role)
    _run(conn, "REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON TABLE audit_log FROM %I", role)
    for table in WORKER_READ_NOTHING:
        _run(conn, "REVOKE ALL ON TABLE %I FROM %I", table, role)


def worker_login(settings: Settings) -> tuple[str, str]:
    """The worker role's name and password from WORKER_DATABASE_URL; refuses the owner's own login."""
    if not settings.worker_database_url:
        raise click.UsageError("WORKER_DATABASE_URL is not set: it names the worker's role and password")
    worker = make_url(settings.for_worker().sqlalchemy_url())
    owner = make_url(settings.sqlalchemy_url())
    if not worker.username or not worker.password:
        raise click.UsageError("WORKER_DATABASE_URL must include the worker role's user name and password")
    if worker.username == owner.username:
        raise click.UsageError("WORKER_DATABASE_URL must name another role than DATABASE_URL (the owner)")
    return worker.username, worker.password


@click.command("roles")
@with_appcontext
def roles_command() -> None:
    """Create or update the worker role named in WORKER_DATABASE_URL: SELECT and INSERT on audit_log only."""
    role, password = worker_login(current_app.config["TODO_SETTINGS"])
    with db.engine.begin() as conn:
        ensure_worker_role(conn=conn, role=role, password=password)
    click.echo(f"worker role {role}: may SELECT and INSERT audit_log, never UPDATE or DELETE it")


def register_roles_command() -> None:
    """Add `roles` to Flask-Migrate's `db` group, beside upgrade, where deployments already look."""
    from flask_migrate.cli import db as db_group

    if "roles" not in db_group.commands:
        db_group.add_command(roles_command)
