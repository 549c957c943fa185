"""PostgreSQL restarted under the web app, its relay and the worker: nothing lost or doubled, all recover."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.pool import NullPool

from devstack.postgres import EmbeddedPostgres, ensure_database
from shared.db import make_engine
from shared.settings import Settings, load_settings
from tests.conftest import AuthActions
from tests.fixtures.database import base_environment
from tests.fixtures.kafka import Topics
from tests.fixtures.streams import MailSink, make_worker, wait_for
from tests.web.outbox.conftest import relay_settings
from web import create_app
from web.outbox.publishers import make_publisher
from web.outbox.relay import Relay
from web.upgrade import upgrade_database

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture
def own_postgres() -> Iterator[tuple[EmbeddedPostgres, str]]:
    """A server only this test restarts, with a migrated database on it."""
    parent = Path(tempfile.mkdtemp(prefix="todo-faults-pg-"))
    parent.chmod(0o755)
    server = EmbeddedPostgres(parent / "data", temporary=True)
    url = ensure_database(server.url("postgres"), "todo_faults")
    upgrade_database(load_settings(base_environment(url)))
    yield server, url
    server.stop()
    shutil.rmtree(parent, ignore_errors=True)


def titles(engine: Engine, table: str, user_id: str) -> list[str]:
    """The task titles of a user in `tasks` or in `audit_log` (one entry per row)."""
    column = "title" if table == "tasks" else "event_data->'task_data'->>'title'"
    query = text(f"SELECT {column} FROM {table} WHERE user_id = :u")  # noqa: S608  (two fixed names)
    with engine.connect() as conn:
        return [row[0] for row in conn.execute(query, {"u": user_id})]


def diagnosis(engine: Engine, user_id: str, worker_log: str) -> str:
    """Why the audit trail did not catch up: what is missing, where it stopped, what the worker said."""
    missing = sorted(set(titles(engine, "tasks", user_id)) - set(titles(engine, "audit_log", user_id)))
    with engine.connect() as conn:
        unpublished = conn.scalar(text("SELECT count(*) FROM outbox WHERE published_at IS NULL"))
    complaints = [line for line in worker_log.splitlines() if "WARNING" in line or "ERROR" in line]
    return (
        f"{len(missing)} committed tasks never audited (first {missing[:5]}); {unpublished} outbox rows"
        f" unpublished; the worker's last warnings:\n" + "\n".join(complaints[-15:])
    )


def test_postgres_restart_under_load_loses_and_duplicates_nothing(
    own_postgres: tuple[EmbeddedPostgres, str],
    kafka_bootstrap: str,
    kafka_topics: Topics,
    mail_sink: MailSink,
    tmp_path: Path,
) -> None:
    server, url = own_postgres
    settings: Settings = relay_settings(load_settings(base_environment(url)), kafka_bootstrap, kafka_topics)
    worker = make_worker(
        database_url=url, bootstrap=kafka_bootstrap, topics=kafka_topics, smtp_port=mail_sink[0].port,
        directory=tmp_path, app_id=f"faults-pg-{uuid.uuid4().hex[:8]}",
    ).start()  # fmt: skip
    engine = make_engine(settings, poolclass=NullPool)
    relay = Relay(
        engine=engine, publisher=make_publisher(settings), settings=settings, name="faults-relay"
    ).start()
    # Not TESTING: a request that meets the restart must answer as in production, not raise into the test.
    app = create_app(settings=dataclasses.replace(settings, database_pool_size=2))
    client = app.test_client()
    answers: list[tuple[float, str, int]] = []
    stop = threading.Event()
    try:
        worker.wait_ready()
        user = AuthActions(client).register("pg@example.com")
        user_id, headers = user.user_id, user.headers

        def load() -> None:
            """Create tasks one after another until told to stop, noting each answer."""
            n = 0
            while not stop.is_set():
                title = f"pg-{n}"
                status = client.post(
                    f"/api/{user_id}/tasks", json={"title": title}, headers=headers
                ).status_code
                answers.append((time.monotonic(), title, status))
                n += 1
                time.sleep(0.02)

        loader = threading.Thread(target=load, daemon=True)
        loader.start()
        time.sleep(3)
        restarted_at = time.monotonic()
        server.restart()
        back_at = time.monotonic()
        time.sleep(5)
        stop.set()
        loader.join(30)
        created = [title for _, title, status in answers if status == 201]
        failed = [status for _, _, status in answers if status != 201]
        first_ok = min((at for at, _, status in answers if status == 201 and at > back_at), default=None)

        def caught_up() -> bool:
            """Whether audit_log holds exactly the committed tasks."""
            return sorted(titles(engine, "audit_log", user_id)) == sorted(titles(engine, "tasks", user_id))

        try:
            wait_for(caught_up, timeout=120, interval=0.5, what="every committed task audited")
        except AssertionError as exc:
            raise AssertionError(diagnosis(engine, user_id, worker.log())) from exc
        audited_at = time.monotonic()
        audit = titles(engine, "audit_log", user_id)
        committed = titles(engine, "tasks", user_id)
    finally:
        stop.set()
        relay.stop()
        worker.stop()
        engine.dispose()
        with app.app_context():
            from web.extensions import db

            db.engine.dispose()
    print(
        f"\npostgres restart: sent {len(answers)} creates ({len(created)} 201, {len(failed)} refused"
        f" while down: {sorted(set(failed))}); found {len(audit)} audit rows for {len(committed)} committed"
        f" tasks, duplicates {len(audit) - len(set(audit))}; server down {back_at - restarted_at:.1f}s;"
        f" web answering 201 again {(first_ok or back_at) - back_at:.1f}s after; worker caught up"
        f" {audited_at - back_at:.1f}s after"
    )
    assert first_ok is not None, "the web app never answered 201 after the restart"
    assert len(audit) == len(set(audit))
    assert set(created) <= set(committed)
    assert sorted(audit) == sorted(committed)
    assert all(status == 503 for status in failed), "an outage is a 503 with Retry-After, never a 500"
