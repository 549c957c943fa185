"""A real worker logged in as its restricted role (WORKER_DATABASE_URL) audits, chains and mails."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from devstack.mailsink import SaveToDirectory
from shared.events import new_event
from shared.models import AuditLog, SentNotification
from tests.fixtures.kafka import Topics
from tests.fixtures.streams import make_worker, wait_for
from tests.streams.conftest import add_user
from tests.streams.helpers import bare, keyed, produce
from web.audit.verify import verify_trail
from web.roles import ensure_worker_role

pytestmark = pytest.mark.slow


@pytest.fixture
def worker_url(database_url: str, engine: Engine) -> Iterator[str]:
    """The URL of a fresh worker role made as `flask --app web db roles` makes it (dropped afterwards)."""
    role, password = f"todo_worker_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    with engine.begin() as conn:
        ensure_worker_role(conn=conn, role=role, password=password)
    yield make_url(database_url).set(username=role, password=password).render_as_string(hide_password=False)
    with engine.begin() as conn:
        conn.execute(text(f'DROP OWNED BY "{role}"'))
        conn.execute(text(f'DROP ROLE "{role}"'))


def count(engine: Engine, model: type, user_id: str) -> int:
    """One user's rows in a table (other tests' workers may still be writing theirs)."""
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(model).where(model.user_id == user_id)) or 0)  # type: ignore[attr-defined]


def test_a_worker_with_only_its_role_audits_chains_and_mails(
    worker_url: str,
    database_url: str,
    kafka_bootstrap: str,
    kafka_topics: Topics,
    mail_sink: tuple[Controller, SaveToDirectory],
    tmp_path: Path,
    engine: Engine,
) -> None:
    user = add_user(engine, email="restricted@example.com")
    events = [
        new_event(
            event_type=kind, user_id=user, task_id=1, title="t", description="", completed=kind == "completed"
        )
        for kind in ("created", "updated", "completed", "deleted")
    ]
    worker = make_worker(
        database_url=database_url,
        bootstrap=kafka_bootstrap,
        topics=kafka_topics,
        smtp_port=mail_sink[0].port,
        directory=tmp_path,
        app_id=f"test-role-{uuid.uuid4().hex[:8]}",
        WORKER_DATABASE_URL=worker_url,
    ).start()
    try:
        worker.wait_ready()
        produce(kafka_bootstrap, kafka_topics.events, [keyed(e, bare(e)) for e in [*events, events[0]]])
        wait_for(
            lambda: count(engine, AuditLog, user) == 4, what="the events audited by the restricted worker"
        )
        wait_for(lambda: count(engine, SentNotification, user) == 1, what="the completion claimed")
        with engine.connect() as conn:
            role = make_url(worker_url).username
            logins = "SELECT count(*) FROM pg_stat_activity WHERE usename = :role"
            assert conn.scalar(text(logins), {"role": role}), "the worker never logged in as its role"
    finally:
        worker.kill()
    assert "permission denied" not in worker.log()
    with Session(engine) as session:
        assert verify_trail(session=session, user_id=user).to_json() == {"intact": True, "rows": 4}
