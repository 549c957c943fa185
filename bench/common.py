"""What the benchmarks share: a migrated database, a broker, the mail sink, and event generation."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devstack.kafka import TansuBroker, create_topics
from devstack.postgres import EmbeddedPostgres, drop_database, ensure_database
from shared.events import TaskEvent, new_event
from shared.settings import load_settings
from web.upgrade import upgrade_database

EVENT_TYPES = ("created", "updated", "completed", "deleted")


@contextmanager
def bench_database() -> Iterator[str]:
    """A freshly migrated database on TEST_DATABASE_URL's or DATABASE_URL's server, else an embedded one."""
    settings = load_settings()
    admin = settings.test_database_url or settings.database_url
    parent = None
    server = None
    if not admin:
        parent = Path(tempfile.mkdtemp(prefix="todo-bench-pg-"))
        parent.chmod(0o755)
        server = EmbeddedPostgres(parent / "data", temporary=True)
        admin = server.url("postgres")
    name = f"todo_bench_{uuid.uuid4().hex[:8]}"
    url = ensure_database(admin, name)
    upgrade_database(load_settings({"DATABASE_URL": url, "APP_ENV": "test"}))
    try:
        yield url
    finally:
        drop_database(admin, name)
        if server is not None:
            server.stop()
        if parent is not None:
            shutil.rmtree(parent, ignore_errors=True)


@contextmanager
def bench_broker() -> Iterator[str]:
    """Bootstrap servers: KAFKA_BOOTSTRAP_SERVERS when set, else a Tansu broker for this run."""
    from shared.settings import is_set

    if is_set("KAFKA_BOOTSTRAP_SERVERS"):
        yield load_settings().kafka_bootstrap_servers
        return
    broker = TansuBroker().start()
    try:
        yield broker.bootstrap_servers
    finally:
        broker.stop()


def bench_topics(bootstrap: str, partitions: int) -> tuple[str, str]:
    """Fresh task-events and DLQ topics for one run: (events, dlq)."""
    suffix = uuid.uuid4().hex[:8]
    events, dlq = f"task-events-bench-{suffix}", f"task-events-dlq-bench-{suffix}"
    create_topics(bootstrap, {events: partitions, dlq: 1})
    return events, dlq


@contextmanager
def running(argv: list[str], env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A child process logging to log_path, terminated (then killed) on exit."""
    with open(log_path, "ab") as log:
        process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def make_events(count: int, users: int = 100) -> list[TaskEvent]:
    """Realistic events spread over users, tasks and types."""
    return [
        new_event(
            event_type=EVENT_TYPES[i % 4],
            user_id=f"user-{i % users}",
            task_id=i // 4,
            title=f"Task number {i // 4}",
            description="Bring the forms to the post office before noon",
            completed=i % 4 == 2,
        )
        for i in range(count)
    ]
