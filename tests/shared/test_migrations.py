"""`flask --app web db upgrade` builds the whole schema on an empty database, and can be undone."""

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from devstack.postgres import drop_database, ensure_database
from shared.events import new_event
from shared.settings import load_settings
from web.audit.verify import verify_trail

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def empty_database(postgres_server_url):
    name = f"todo_empty_{uuid.uuid4().hex[:8]}"
    url = ensure_database(postgres_server_url, name)
    yield url
    drop_database(postgres_server_url, name)


def _flask_db(url, *args):
    env = {"DATABASE_URL": url, "APP_ENV": "test", "PATH": str(Path(sys.executable).parent)}
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "web", "db", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _inspector(url):
    """A fresh inspector (its connection closed, so it reflects the schema as of now)."""
    engine = create_engine(load_settings({"DATABASE_URL": url}).sqlalchemy_url(), poolclass=NullPool)
    inspector = inspect(engine)
    inspector.get_table_names()
    engine.dispose()
    return inspector


def test_upgrade_from_empty_creates_every_table(empty_database):
    result = _flask_db(empty_database, "upgrade")
    assert result.returncode == 0, result.stderr
    inspector = _inspector(empty_database)
    assert {"users", "tasks", "outbox", "audit_log", "sent_notifications"} <= set(inspector.get_table_names())


def test_audit_log_has_exactly_the_contract_columns_and_indexes(empty_database):
    assert _flask_db(empty_database, "upgrade").returncode == 0
    inspector = _inspector(empty_database)
    columns = {c["name"]: c for c in inspector.get_columns("audit_log")}
    assert set(columns) == {
        "id", "event_id", "event_type", "user_id", "task_id", "event_data", "timestamp", "prev_hash", "hash",
    }  # fmt: skip
    assert str(columns["hash"]["type"]) == "BYTEA"
    assert not columns["hash"]["nullable"]
    assert not columns["prev_hash"]["nullable"]
    assert str(columns["id"]["type"]) == "BIGINT"
    assert str(columns["event_id"]["type"]) == "UUID"
    assert str(columns["event_data"]["type"]) == "JSONB"
    assert str(columns["timestamp"]["type"]) == "TIMESTAMP"
    assert columns["timestamp"]["type"].timezone is True
    assert inspector.get_pk_constraint("audit_log")["constrained_columns"] == ["id"]
    unique = [c["column_names"] for c in inspector.get_unique_constraints("audit_log")]
    assert ["event_id"] in unique
    indexes = {tuple(ix["column_names"]) for ix in inspector.get_indexes("audit_log")}
    assert ("user_id", "timestamp", "id") in indexes
    assert ("user_id", "event_type", "timestamp", "id") in indexes
    assert ("user_id", "id") in indexes
    assert any(cols[0] == "task_id" for cols in indexes)


def test_downgrade_to_base_and_upgrade_again(empty_database):
    assert _flask_db(empty_database, "upgrade").returncode == 0
    down = _flask_db(empty_database, "downgrade", "base")
    assert down.returncode == 0, down.stderr
    assert set(_inspector(empty_database).get_table_names()) <= {"alembic_version"}
    assert _flask_db(empty_database, "upgrade").returncode == 0


def _engine(url):
    return create_engine(load_settings({"DATABASE_URL": url}).sqlalchemy_url(), poolclass=NullPool)


def test_upgrade_chains_rows_written_before_the_chain_and_the_owner_can_migrate_back(empty_database):
    assert _flask_db(empty_database, "upgrade", "0004_mail_claims").returncode == 0
    engine = _engine(empty_database)
    events = [
        new_event(event_type="created", user_id=f"u{i % 2}", task_id=i, title="\u00e9", description="",
                  completed=False)
        for i in range(5)
    ]  # fmt: skip
    with engine.begin() as conn:
        for event in events:
            conn.execute(
                text(
                    "INSERT INTO audit_log (event_id, event_type, user_id, task_id, event_data, timestamp) "
                    "VALUES (:id, :type, :user, :task, CAST(:data AS jsonb), :ts)"
                ),
                {"id": event.event_id, "type": event.event_type, "user": event.user_id,
                 "task": event.task_id, "data": event.to_json(), "ts": event.timestamp},
            )  # fmt: skip
    upgraded = _flask_db(empty_database, "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    with Session(engine) as session:
        assert verify_trail(session=session).to_json() == {"intact": True, "rows": 5}
    for args in (("downgrade", "0004_mail_claims"), ("upgrade",)):
        assert _flask_db(empty_database, *args).returncode == 0
    with Session(engine) as session:
        assert verify_trail(session=session).to_json() == {"intact": True, "rows": 5}
    engine.dispose()


def test_the_migrations_form_one_line_with_one_head():
    """Two branches landing migrations at once must not leave two heads (upgrade would refuse)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(ROOT / "web" / "migrations"))
    heads = ScriptDirectory.from_config(config).get_heads()
    assert len(heads) == 1, f"migration heads: {heads}; point the newer one's down_revision at the other"
