"""Fixtures for the stream worker tests: a real SMTP sink, per-module topics and a shared worker."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, insert

from shared.devstack.kafka import create_topics, free_port
from shared.devstack.mailsink import SaveToDirectory, start_sink
from shared.models import User
from tests.fixtures.kafka import Topics
from tests.streams.helpers import Worker, worker_env


@pytest.fixture(scope="module")
def mail_sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Controller, SaveToDirectory]]:
    """A real SMTP server (aiosmtpd) on a free port, saving each message as an .eml file."""
    controller, handler = start_sink(tmp_path_factory.mktemp("mail"), port=free_port())
    yield controller, handler
    controller.stop()


@pytest.fixture(scope="module")
def module_topics(kafka_bootstrap: str) -> Topics:
    """Event and DLQ topics shared by the tests of one module (6 partitions like the default)."""
    suffix = uuid.uuid4().hex[:10]
    topics = Topics(events=f"task-events-{suffix}", dlq=f"task-events-dlq-{suffix}", partitions=6)
    create_topics(kafka_bootstrap, {topics.events: topics.partitions, topics.dlq: 1})
    return topics


def make_worker(
    *,
    database_url: str,
    bootstrap: str,
    topics: Topics,
    smtp_port: int,
    directory: Path,
    app_id: str,
    **extra: str,
) -> Worker:
    """A worker (not yet started) for these topics, logging to directory/worker-<port>.log."""
    port = free_port()
    env = worker_env(
        database_url=database_url,
        bootstrap=bootstrap,
        events_topic=topics.events,
        dlq_topic=topics.dlq,
        app_id=app_id,
        port=port,
        data_dir=directory / f"data-{port}",
        smtp_port=smtp_port,
        **extra,
    )
    return Worker(env, directory / f"worker-{port}.log")


@pytest.fixture(scope="module")
def shared_worker(
    database_url: str,
    kafka_bootstrap: str,
    module_topics: Topics,
    mail_sink: tuple[Controller, SaveToDirectory],
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
