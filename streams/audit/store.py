"""The audit_log SQL: one idempotent multi-row insert per batch."""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from shared.db import transaction
from shared.events import TaskEvent

# unnest() turns six array parameters into rows: one statement and one round trip per batch, however
# large, and a single plan the server caches. ON CONFLICT makes redelivered events (and duplicates
# inside one batch) harmless.
INSERT_BATCH = text(
    """
    INSERT INTO audit_log (event_id, event_type, user_id, task_id, event_data, timestamp)
    SELECT * FROM unnest(
        CAST(:event_ids AS uuid[]), CAST(:event_types AS text[]), CAST(:user_ids AS text[]),
        CAST(:task_ids AS bigint[]), CAST(:event_data AS jsonb[]), CAST(:timestamps AS timestamptz[])
    )
    ON CONFLICT (event_id) DO NOTHING
    """
)


def batch_parameters(events: Sequence[TaskEvent]) -> dict[str, list[object]]:
    """Column arrays for INSERT_BATCH; event_data is the event's canonical wire form."""
    return {
        "event_ids": [e.event_id for e in events],
        "event_types": [e.event_type for e in events],
        "user_ids": [e.user_id for e in events],
        "task_ids": [e.task_id for e in events],
        "event_data": [json.dumps(e.to_dict(), ensure_ascii=False) for e in events],
        "timestamps": [e.timestamp for e in events],
    }


def insert_audit_rows(*, sessions: sessionmaker[Session], events: Sequence[TaskEvent]) -> int:
    """Insert the events' audit rows in one committed transaction; returns how many were new."""
    if not events:
        return 0
    with transaction(sessions) as session:
        result = session.execute(INSERT_BATCH, batch_parameters(events))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
