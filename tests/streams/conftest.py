"""Fixtures for the stream worker tests: a shared worker (SMTP sink and topics: tests/fixtures/streams.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence

import pytest
from faust.types import EventT
from sqlalchemy import Engine, insert

from shared.events import TaskEvent
from shared.models import User
from tests.fixtures.kafka import Topics
from tests.fixtures.streams import MailSink, Worker, make_worker


@pytest.fixture(scope="module")
def shared_worker(
    database_url: str,
    kafka_bootstrap: str,
    module_topics: Topics,
    mail_sink: MailSink,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Worker]:
    """One running worker for a module's tests (each test uses its own users and event ids)."""
    worker = make_worker(
        database_url=database_url,
        bootstrap=kafka_bootstrap,
        topics=module_topics,
        smtp_port=mail_sink[0].port,
        directory=tmp_path_factory.mktemp("worker"),
        app_id=f"test-streams-{uuid.uuid4().hex[:8]}",
        MAX_EVENT_BYTES="4096",
    ).start()
    worker.wait_ready()
    yield worker
    worker.stop()


def add_user(engine: Engine, *, email: str, notifications: bool = True) -> str:
    """Insert a user straight into the database and return its id."""
    user_id = str(uuid.uuid4())
    with engine.begin() as conn:
        conn.execute(
            insert(User).values(id=user_id, email=email, password_hash="x", email_notifications=notifications)
        )
    return user_id


@pytest.fixture
def forwarded(monkeypatch: pytest.MonkeyPatch) -> list[TaskEvent]:
    """What the audit agent hands to the counts topic, recorded instead (test_context() has no broker)."""
    import streams.audit.agents

    recorded: list[TaskEvent] = []

    async def record(audited: Sequence[tuple[EventT, TaskEvent]]) -> None:
        """Note the audited events the counts would be told about."""
        recorded.extend(task_event for _, task_event in audited)

    monkeypatch.setattr(streams.audit.agents, "forward_counts", record)
    return recorded
