"""The audit_log SQL: each batch COPYed into a staging table, then one idempotent INSERT.

COPY is PostgreSQL's fastest ingestion path (measured in bench/audit_ingest.py against the
per-event INSERT+COMMIT and against an unnest() multi-row insert, which reached only ~0.5x of it).
The staging table is a per-connection temp table emptied at every commit, so batches never see
each other's rows; ON CONFLICT makes redelivered events (and duplicates inside one batch) harmless.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from shared.db import transaction
from shared.events import TaskEvent

COLUMNS = "event_id, event_type, user_id, task_id, event_data, timestamp"

# No id column and no defaults: staging rows must not draw from audit_log's id sequence.
CREATE_STAGE = """
    CREATE TEMP TABLE IF NOT EXISTS audit_stage (
        ord integer, event_id uuid, event_type text, user_id text,
        task_id bigint, event_data jsonb, timestamp timestamptz
    ) ON COMMIT DELETE ROWS
"""
COPY_STAGE = f"COPY audit_stage (ord, {COLUMNS}) FROM STDIN"
# ORDER BY keeps the batch's arrival order in audit_log ids (a user's events stay in sequence).
INSERT_FROM_STAGE = (
    f"INSERT INTO audit_log ({COLUMNS}) SELECT {COLUMNS} FROM audit_stage ORDER BY ord "  # noqa: S608
    "ON CONFLICT (event_id) DO NOTHING"
)


def audit_row(position: int, event: TaskEvent) -> tuple[Any, ...]:
    """One staging row; event_data is the event's canonical wire form."""
    return (
        position,
        event.event_id,
        event.event_type,
        event.user_id,
        event.task_id,
        event.to_json(),
        event.timestamp,
    )


def insert_audit_rows(*, sessions: sessionmaker[Session], events: Sequence[TaskEvent]) -> int:
    """Insert the events' audit rows in one committed transaction; returns how many were new."""
    if not events:
        return 0
    with transaction(sessions) as session:
        # The psycopg connection under SQLAlchemy's, for COPY (which SQLAlchemy does not wrap).
        raw = session.connection().connection.driver_connection
        with raw.cursor() as cursor:  # type: ignore[union-attr]
            cursor.execute("SET LOCAL client_min_messages = warning")  # no "already exists" notice
            cursor.execute(CREATE_STAGE)
            with cursor.copy(COPY_STAGE) as copy:
                for position, event in enumerate(events):
                    copy.write_row(audit_row(position, event))
            cursor.execute(INSERT_FROM_STAGE)
            return int(cursor.rowcount)
