"""The pool pings only connections that sat idle (a dead idle one is replaced, a dead busy one is a 503);
statements run on the driver keep the session's transaction and SQLAlchemy's errors."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import Float, bindparam, func, insert, literal, literal_column, select, text
from sqlalchemy.exc import DBAPIError

import shared.db
from shared.driver import DriverStatement
from shared.models import OutboxEvent, User
from web.extensions import db


@pytest.fixture
def pings(app, monkeypatch):
    """Count the app engine's pings (the dialect's own ping still runs)."""
    with app.app_context():
        dialect = db.engine.dialect
    calls = []
    real = dialect.do_ping

    def counting(dbapi_connection):
        calls.append(dbapi_connection)
        return real(dbapi_connection)

    monkeypatch.setattr(dialect, "do_ping", counting)
    return calls


def _kill_other_backends(engine):
    with engine.connect() as conn:
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )


def _tasks_status(client, user):
    return client.get(f"/api/{user.user_id}/tasks", headers=user.headers).status_code


def test_a_connection_given_back_a_moment_ago_is_lent_without_a_ping(client, auth, pings, monkeypatch):
    monkeypatch.setattr(shared.db, "IDLE_PING_SECONDS", 60.0)
    user = auth.register()
    assert [_tasks_status(client, user) for _ in range(3)] == [200] * 3
    assert pings == []


def test_an_idle_connection_is_pinged_and_a_dead_one_replaced_unseen(
    client, auth, engine, pings, monkeypatch
):
    user = auth.register()
    assert _tasks_status(client, user) == 200
    monkeypatch.setattr(shared.db, "IDLE_PING_SECONDS", 0.0)
    _kill_other_backends(engine)
    assert _tasks_status(client, user) == 200
    assert len(pings) == 1


def test_a_connection_that_died_between_two_quick_requests_is_one_503_then_the_pool_recovers(
    client, auth, engine, monkeypatch
):
    monkeypatch.setattr(shared.db, "IDLE_PING_SECONDS", 60.0)
    user = auth.register()
    assert _tasks_status(client, user) == 200
    _kill_other_backends(engine)
    refused = client.get(f"/api/{user.user_id}/tasks", headers=user.headers)
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "1"
    assert _tasks_status(client, user) == 200


def test_a_driver_statement_runs_in_the_session_transaction_with_its_literals_and_defaults(app, engine):
    table = OutboxEvent.__table__
    values = {name: bindparam(name) for name in ("event_id", "user_id", "payload")}
    returning = (table.c.attempts, table.c.event_type, table.c.payload)
    statement = DriverStatement(insert(table).values(**values, event_type="created").returning(*returning))
    params = {"event_id": uuid.uuid4(), "user_id": "someone", "payload": {"a": [1, "b"]}}
    with app.app_context():
        rows = statement.execute(session=db.session, params=params)
        with engine.connect() as other:
            assert other.execute(select(func.count()).select_from(table)).scalar_one() == 0
        db.session.rollback()
    assert rows == [(0, "created", {"a": [1, "b"]})]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(table)).scalar_one() == 0


def test_a_driver_statement_refuses_results_it_cannot_convert_and_defaults_it_cannot_run(app):
    with app.app_context():
        with pytest.raises(TypeError, match="needs result processing"):
            DriverStatement(select(literal(1.5, Float))).execute(session=db.session, params={})
        account = DriverStatement(insert(User.__table__).values(email="a@b", password_hash="x"))
        with pytest.raises(TypeError, match="column id has a default"):
            account.execute(session=db.session, params={})


def test_a_driver_statement_failing_is_sqlalchemys_error_and_the_session_rolls_back(app, engine):
    statement = DriverStatement(select(literal_column("1 / 0")))
    with app.app_context():
        with pytest.raises(DBAPIError, match="division by zero"):
            statement.execute(session=db.session, params={})
        db.session.rollback()
        assert db.session.execute(select(literal(2))).scalar_one() == 2


def _outbox_insert() -> DriverStatement:
    """An outbox row with the given event id (the table has no foreign keys to satisfy)."""
    table = OutboxEvent.__table__
    values = {name: bindparam(name) for name in ("event_id", "user_id", "payload")}
    return DriverStatement(insert(table).values(**values, event_type="created"))


def _outbox_rows(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(OutboxEvent.__table__)).scalar_one()


def _row() -> dict[str, object]:
    return {"event_id": uuid.uuid4(), "user_id": "someone", "payload": {}}


def test_a_statement_run_alone_commits_by_itself_and_the_connection_goes_back_to_transactions(app, engine):
    with app.app_context():
        _outbox_insert().execute(session=db.session, params=_row(), alone=True)
        assert _outbox_rows(engine) == 1
        driver = db.session.connection().connection.driver_connection
        assert driver.autocommit is False
        db.session.rollback()
    assert _outbox_rows(engine) == 1


def test_a_statement_after_another_or_beside_pending_changes_joins_the_transaction(app, engine):
    with app.app_context():
        db.session.execute(select(literal(1)))
        _outbox_insert().execute(session=db.session, params=_row(), alone=True)
        assert _outbox_rows(engine) == 0
        db.session.rollback()
        db.session.add(User(email="pending@example.com", password_hash="x"))
        _outbox_insert().execute(session=db.session, params=_row(), alone=True)
        assert _outbox_rows(engine) == 0
        db.session.rollback()
    assert _outbox_rows(engine) == 0


def test_a_failing_statement_run_alone_writes_nothing_and_leaves_transactions_on(app, engine):
    with app.app_context():
        duplicate = _row()
        _outbox_insert().execute(session=db.session, params=duplicate, alone=True)
        with pytest.raises(DBAPIError, match="duplicate key"):
            _outbox_insert().execute(session=db.session, params=duplicate, alone=True)
        db.session.rollback()
        assert db.session.connection().connection.driver_connection.autocommit is False
    assert _outbox_rows(engine) == 1
