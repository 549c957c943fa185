"""The database backs the audit trail: the worker's role only appends, the trigger refuses the rest."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest
from flask import Flask
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from shared.db import make_sessionmaker
from shared.events import new_event
from shared.models import AuditLog
from shared.settings import Settings
from streams.audit.store import insert_audit_rows
from web import create_app
from web.audit.verify import verify_trail
from web.extensions import db

CHANGES = {
    "UPDATE": "UPDATE audit_log SET task_id = task_id + 1",
    "DELETE": "DELETE FROM audit_log",
    "TRUNCATE": "TRUNCATE audit_log",
}


def drop_role(engine: Engine, role: str) -> None:
    """Remove a test role and whatever it was granted in this database."""
    with engine.begin() as conn:
        conn.execute(text(f'DROP OWNED BY "{role}"'))
        conn.execute(text(f'DROP ROLE "{role}"'))


@pytest.fixture
def worker_settings(settings: Settings, engine: Engine) -> Iterator[Settings]:
    """Settings whose WORKER_DATABASE_URL names a fresh role (dropped afterwards)."""
    role = f"todo_worker_{uuid.uuid4().hex[:8]}"
    url = make_url(settings.database_url).set(username=role, password="worker-secret-" + uuid.uuid4().hex)
    yield replace(settings, worker_database_url=url.render_as_string(hide_password=False))
    drop_role(engine, role)


@pytest.fixture
def roles_app(worker_settings: Settings) -> Iterator[Flask]:
    """The app configured with the worker's login."""
    app = create_app({"TESTING": True}, settings=worker_settings)
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def worker_engine(roles_app: Flask, worker_settings: Settings) -> Iterator[Engine]:
    """An engine logged in as the worker role, after `flask --app web db roles` created it."""
    result = roles_app.test_cli_runner().invoke(args=["db", "roles"])
    assert result.exit_code == 0, result.output
    engine = create_engine(worker_settings.for_worker().sqlalchemy_url(), poolclass=NullPool)
    yield engine
    engine.dispose()


def events(count: int) -> list:  # type: ignore[type-arg]
    """A few events of one user."""
    return [
        new_event(event_type="created", user_id="w", task_id=i, title="t", description="", completed=False)
        for i in range(count)
    ]


def test_roles_command_is_idempotent_and_says_what_it_granted(
    roles_app: Flask, worker_engine: Engine, worker_settings: Settings
) -> None:
    again = roles_app.test_cli_runner().invoke(args=["db", "roles"])
    assert again.exit_code == 0
    role = make_url(worker_settings.worker_database_url).username
    assert again.output == f"worker role {role}: may SELECT and INSERT audit_log, never UPDATE or DELETE it\n"


def test_the_worker_role_appends_chained_rows_and_reads_them(worker_engine: Engine, engine: Engine) -> None:
    sessions = make_sessionmaker(worker_engine)
    assert insert_audit_rows(sessions=sessions, events=events(3)) == 3
    assert insert_audit_rows(sessions=sessions, events=events(2)) == 2
    with Session(worker_engine) as session:
        assert verify_trail(session=session).to_json() == {"intact": True, "rows": 5}
    with worker_engine.connect() as conn:
        assert conn.scalar(select(func.current_user())) != make_url(str(engine.url)).username


@pytest.mark.parametrize("change", list(CHANGES))
def test_the_worker_role_may_not_change_or_remove_rows(worker_engine: Engine, change: str) -> None:
    insert_audit_rows(sessions=make_sessionmaker(worker_engine), events=events(1))
    with pytest.raises(DBAPIError, match="permission denied"), worker_engine.begin() as conn:
        conn.execute(text(CHANGES[change]))
    with worker_engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(AuditLog)) == 1


def test_the_worker_role_writes_its_other_tables_but_not_the_migration_bookkeeping(
    worker_engine: Engine,
) -> None:
    with worker_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO sent_notifications (event_id, user_id, task_id, recipient) "
                "VALUES (gen_random_uuid(), 'w', 1, 'w@example.com')"
            )
        )
        assert conn.execute(text("DELETE FROM sent_notifications")).rowcount == 1
    with pytest.raises(DBAPIError, match="permission denied"), worker_engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = version_num"))


@pytest.fixture
def editor(engine: Engine) -> Iterator[str]:
    """A role granted every privilege on audit_log, but not its owner."""
    role = f"todo_editor_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" NOLOGIN'))
        conn.execute(text(f'GRANT ALL ON audit_log TO "{role}"'))
    yield role
    drop_role(engine, role)


@pytest.mark.parametrize("change", list(CHANGES))
def test_the_trigger_refuses_a_privileged_role_that_is_not_the_owner(
    engine: Engine, editor: str, change: str
) -> None:
    insert_audit_rows(sessions=make_sessionmaker(engine), events=events(2))
    with engine.begin() as conn:
        conn.execute(text(f'SET LOCAL ROLE "{editor}"'))
        refused = f"audit_log is append-only: {change} refused for role {editor}"
        with pytest.raises(DBAPIError, match=refused):
            conn.execute(text(CHANGES[change]))
        conn.rollback()
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(AuditLog)) == 2


def test_the_owner_may_still_change_rows(engine: Engine) -> None:
    insert_audit_rows(sessions=make_sessionmaker(engine), events=events(2))
    with engine.begin() as conn:
        assert conn.execute(text("UPDATE audit_log SET task_id = task_id + 10")).rowcount == 2
        assert conn.execute(text("DELETE FROM audit_log")).rowcount == 2


@pytest.mark.parametrize(
    ("worker_url", "complaint"),
    [
        ("", "WORKER_DATABASE_URL is not set"),
        ("postgresql://127.0.0.1/db", "must include the worker role's user name and password"),
        ("same-user", "must name another role than DATABASE_URL"),
    ],
)
def test_roles_command_refuses_bad_settings_with_exit_2(
    settings: Settings, worker_url: str, complaint: str
) -> None:
    if worker_url == "same-user":
        worker_url = make_url(settings.database_url).set(password="x").render_as_string(hide_password=False)
    app = create_app({"TESTING": True}, settings=replace(settings, worker_database_url=worker_url))
    result = app.test_cli_runner().invoke(args=["db", "roles"])
    assert result.exit_code == 2
    assert complaint in result.output
