"""What the benchmarks share: a migrated database to measure on, and event generation."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devstack.postgres import EmbeddedPostgres, drop_database, ensure_database
from shared.events import TaskEvent, new_event
from shared.settings import load_settings
from web.upgrade import upgrade_database

EVENT_TYPES = ("created", "updated", "completed", "deleted")


@contextmanager
def bench_database() -> Iterator[str]:
    """A freshly migrated database: on TEST_DATABASE_URL's server if set, else an embedded one."""
    admin = load_settings().test_database_url
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
