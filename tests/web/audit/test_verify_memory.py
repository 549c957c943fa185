"""Verifying a 20,000-row chain streams it: peak memory stays a small fraction of holding the rows."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from shared.db import make_sessionmaker
from shared.events import new_event
from shared.models import AuditLog
from streams.audit.store import insert_audit_rows
from web.audit.verify import verify_trail

ROWS = 20_000
USER = "long-trail"


def peak_kib(work: Callable[[], object]) -> tuple[object, int]:
    """Run work under tracemalloc; its result and the peak of memory allocated meanwhile."""
    tracemalloc.start()
    try:
        result = work()
        return result, tracemalloc.get_traced_memory()[1] // 1024
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_verifying_20k_rows_streams_them(engine: Engine) -> None:
    sessions = make_sessionmaker(engine)
    for start in range(0, ROWS, 5000):
        events = [
            new_event(event_type="updated", user_id=USER, task_id=i, title=f"task {i}", description="d" * 40,
                      completed=False)
            for i in range(start, start + 5000)
        ]  # fmt: skip
        insert_audit_rows(sessions=sessions, events=events)
    with Session(engine) as session:
        verdict, streamed = peak_kib(lambda: verify_trail(session=session, user_id=USER).to_json())
    with Session(engine) as session:
        rows, held = peak_kib(
            lambda: len(session.execute(select(AuditLog).where(AuditLog.user_id == USER)).all())
        )
    print(f"\nverify of {ROWS} rows peaked at {streamed} KiB; holding them all took {held} KiB")
    assert verdict == {"intact": True, "rows": ROWS}
    assert rows == ROWS
    assert streamed * 10 < held, f"verify peaked at {streamed} KiB; holding every row takes {held} KiB"
