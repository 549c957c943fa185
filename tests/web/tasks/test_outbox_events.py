"""Every task change leaves exactly one outbox event, in the same transaction as the change."""

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from sqlalchemy import event, select, text
from sqlalchemy.exc import DBAPIError

from shared.events import TASK_DATA_FIELDS, parse_event
from shared.models import OutboxEvent, Task
from web.extensions import db
from web.outbox.repository import CHANNEL


@pytest.fixture
def user(auth):
    return auth.register()


def _outbox(engine):
    with engine.connect() as conn:
        return list(conn.execute(select(OutboxEvent).order_by(OutboxEvent.id)))


def _one_new_event(engine, before):
    rows = _outbox(engine)[len(before) :]
    assert len(rows) == 1, rows
    return rows[0]


def _assert_exact_schema(row, *, event_type, user_id, task):
    payload = row.payload
    assert set(payload) == {"event_id", "event_type", "timestamp", "user_id", "task_id", "task_data"}
    assert set(payload["task_data"]) == set(TASK_DATA_FIELDS)
    event = parse_event(payload)
    assert event.event_id.version == 4
    assert str(event.event_id) == payload["event_id"] == str(row.event_id)
    assert payload["event_type"] == row.event_type == event_type
    assert payload["user_id"] == row.user_id == user_id
    assert payload["task_id"] == task["id"]
    assert payload["task_data"] == {k: task[k] for k in TASK_DATA_FIELDS}
    assert payload["timestamp"].endswith("Z")
    assert abs(event.timestamp - datetime.now(UTC)) < timedelta(minutes=1)
    assert row.published_at is None


def test_each_operation_writes_exactly_one_event_with_the_exact_schema(client, user, engine):
    base = f"/api/{user.user_id}/tasks"
    steps = [
        ("created", lambda: client.post(base, json={"title": "t", "description": "d"}, headers=user.headers)),
        (
            "updated",
            lambda: client.put(f"{base}/1", json={"title": "t2", "description": "d2"}, headers=user.headers),
        ),
        ("completed", lambda: client.patch(f"{base}/1/complete", headers=user.headers)),
        ("updated", lambda: client.patch(f"{base}/1/complete", headers=user.headers)),
    ]
    for event_type, call in steps:
        before = _outbox(engine)
        task = call().get_json()
        _assert_exact_schema(
            _one_new_event(engine, before), event_type=event_type, user_id=user.user_id, task=task
        )
    before = _outbox(engine)
    last = client.get(f"{base}/1", headers=user.headers).get_json()
    assert client.delete(f"{base}/1", headers=user.headers).status_code == 204
    _assert_exact_schema(
        _one_new_event(engine, before), event_type="deleted", user_id=user.user_id, task=last
    )


def test_reads_and_rejected_requests_write_no_event(client, user, engine):
    base = f"/api/{user.user_id}/tasks"
    client.post(base, json={"title": "t"}, headers=user.headers)
    before = _outbox(engine)
    client.get(base, headers=user.headers)
    client.get(f"{base}/1", headers=user.headers)
    client.post(base, json={"title": ""}, headers=user.headers)
    client.put(f"{base}/1", json={"title": 7}, headers=user.headers)
    client.put(f"{base}/99", json={"title": "x"}, headers=user.headers)
    client.patch(f"{base}/99/complete", headers=user.headers)
    client.delete(f"{base}/99", headers=user.headers)
    assert _outbox(engine) == before


@pytest.fixture
def failing_trigger(engine):
    """A real PostgreSQL trigger that makes one table's writes fail, to break a transaction midway."""

    def install(table):
        with engine.begin() as conn:
            conn.execute(
                text(
                    "CREATE OR REPLACE FUNCTION fail_write() RETURNS trigger AS $$ "
                    "BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql"
                )
            )
            conn.execute(
                text(
                    f"CREATE TRIGGER fail_write BEFORE INSERT OR UPDATE OR DELETE ON {table} "
                    "FOR EACH ROW EXECUTE FUNCTION fail_write()"
                )
            )

    yield install
    with engine.begin() as conn:
        for table in ("outbox", "tasks"):
            conn.execute(text(f"DROP TRIGGER IF EXISTS fail_write ON {table}"))


def test_a_change_whose_event_cannot_be_written_is_not_made(client, user, engine, failing_trigger):
    base = f"/api/{user.user_id}/tasks"
    client.post(base, json={"title": "keep"}, headers=user.headers)
    failing_trigger("outbox")
    with pytest.raises(DBAPIError, match="injected failure"):
        client.post(base, json={"title": "new"}, headers=user.headers)
    with pytest.raises(DBAPIError, match="injected failure"):
        client.put(f"{base}/1", json={"title": "changed"}, headers=user.headers)
    with engine.connect() as conn:
        titles = conn.execute(select(Task.title)).scalars().all()
    assert titles == ["keep"]
    assert len(_outbox(engine)) == 1


def test_an_event_whose_change_fails_is_not_written(client, user, engine, failing_trigger):
    base = f"/api/{user.user_id}/tasks"
    failing_trigger("tasks")
    with pytest.raises(DBAPIError, match="injected failure"):
        client.post(base, json={"title": "new"}, headers=user.headers)
    assert _outbox(engine) == []


def test_event_ids_are_unique_per_change(client, user, engine):
    base = f"/api/{user.user_id}/tasks"
    for _ in range(5):
        client.post(base, json={"title": "t"}, headers=user.headers)
    ids = [row.event_id for row in _outbox(engine)]
    assert len(set(ids)) == 5
    assert all(isinstance(event_id, uuid.UUID) for event_id in ids)


def test_a_create_writes_its_task_and_event_in_one_statement_and_wakes_the_relay(
    client, user, engine, app, database_url
):
    statements = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement)

    with app.app_context():
        app_engine = db.engine
    with psycopg.connect(database_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANNEL}")
        event.listen(app_engine, "before_cursor_execute", record)
        try:
            created = client.post(f"/api/{user.user_id}/tasks", json={"title": "t"}, headers=user.headers)
        finally:
            event.remove(app_engine, "before_cursor_execute", record)
        woken = list(listener.notifies(timeout=5, stop_after=1))
    assert created.status_code == 201
    writes = [s for s in statements if s.lstrip().upper().startswith(("INSERT", "WITH", "UPDATE"))]
    assert len(writes) == 1, statements
    assert [n.channel for n in woken] == [CHANNEL]
    (row,) = _outbox(engine)
    _assert_exact_schema(row, event_type="created", user_id=user.user_id, task=created.get_json())


def test_an_api_create_is_two_round_trips_with_no_begin_or_commit(client, user, app, tmp_path):
    """The token's standing and the create each run as their own transaction (libpq's trace of the wire)."""
    trace = tmp_path / "wire.txt"
    with app.app_context():
        app_engine = db.engine
    traced = []

    def start_trace(dbapi_connection, _record, _proxy):
        out = trace.open("a")
        dbapi_connection.pgconn.trace(out.fileno())
        traced.append((dbapi_connection, out))

    event.listen(app_engine, "checkout", start_trace)
    try:
        created = client.post(f"/api/{user.user_id}/tasks", json={"title": "t"}, headers=user.headers)
    finally:
        event.remove(app_engine, "checkout", start_trace)
        for dbapi_connection, out in traced:
            dbapi_connection.pgconn.untrace()
            out.close()
    assert created.status_code == 201
    sent = [line.split("\t")[3].split(" ")[0] for line in trace.read_text().splitlines() if "\tF\t" in line]
    assert sent.count("Sync") == 2, sent
    assert "Query" not in sent, trace.read_text()  # BEGIN and COMMIT go as simple queries
    with app.app_context():
        assert db.session.connection().connection.driver_connection.autocommit is False
