"""The pool pings only connections that sat idle: a dead idle one is replaced, a dead busy one is a 503."""

from __future__ import annotations

import pytest
from sqlalchemy import text

import web.database
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
    monkeypatch.setattr(web.database, "IDLE_PING_SECONDS", 60.0)
    user = auth.register()
    assert [_tasks_status(client, user) for _ in range(3)] == [200] * 3
    assert pings == []


def test_an_idle_connection_is_pinged_and_a_dead_one_replaced_unseen(
    client, auth, engine, pings, monkeypatch
):
    user = auth.register()
    assert _tasks_status(client, user) == 200
    monkeypatch.setattr(web.database, "IDLE_PING_SECONDS", 0.0)
    _kill_other_backends(engine)
    assert _tasks_status(client, user) == 200
    assert len(pings) == 1


def test_a_connection_that_died_between_two_quick_requests_is_one_503_then_the_pool_recovers(
    client, auth, engine, monkeypatch
):
    monkeypatch.setattr(web.database, "IDLE_PING_SECONDS", 60.0)
    user = auth.register()
    assert _tasks_status(client, user) == 200
    _kill_other_backends(engine)
    refused = client.get(f"/api/{user.user_id}/tasks", headers=user.headers)
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "1"
    assert _tasks_status(client, user) == 200
