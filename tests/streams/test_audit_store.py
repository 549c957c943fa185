"""The audit insert: one statement per batch, idempotent under redelivery."""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from shared.db import make_sessionmaker
from shared.events import new_event
from shared.models import AuditLog
from streams.audit.store import insert_audit_rows


def test_batch_insert_is_idempotent_and_exact(engine: Engine) -> None:
    events = [
        new_event(
            event_type="created", user_id="u", task_id=i, title=f"t{i}", description="", completed=False
        )
        for i in range(5)
    ]
    sessions = make_sessionmaker(engine)
    assert insert_audit_rows(sessions=sessions, events=[*events, events[0]]) == 5
    assert insert_audit_rows(sessions=sessions, events=events) == 0
    assert insert_audit_rows(sessions=sessions, events=[]) == 0
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(AuditLog)) == 5
        row = conn.execute(select(AuditLog).where(AuditLog.event_id == events[3].event_id)).one()
    assert (row.event_type, row.user_id, row.task_id, row.timestamp) == (
        "created",
        "u",
        3,
        events[3].timestamp,
    )
    assert row.event_data == events[3].to_dict()
