"""Audit rows shaped exactly as the stream worker writes them, for tests that run without the worker.

The worker stores each consumed event as one audit_log row: event_data is the whole published
event (`TaskEvent.to_dict()`), timestamp is the event's timestamp, id is the bigserial, and
prev_hash and hash chain the rows of each user (shared.audit_chain).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, select, text

from shared.events import TaskData, TaskEvent, parse_event
from shared.models import AuditLog, OutboxEvent
from streams.audit.store import append_chained


def make_event(
    *,
    user_id: str,
    task_id: int,
    event_type: str = "created",
    title: str = "A task",
    description: str = "",
    completed: bool = False,
    timestamp: datetime | None = None,
) -> TaskEvent:
    """A valid event as the web app would publish it."""
    return TaskEvent(
        event_id=uuid.uuid4(),
        event_type=event_type,
        timestamp=timestamp or datetime.now(UTC),
        user_id=user_id,
        task_id=task_id,
        task_data=TaskData(title=title, description=description, completed=completed),
    )


def _store(conn: Connection, events: tuple[TaskEvent, ...]) -> list[int]:
    """Append the events' chained rows with the worker's own code; returns their ids in order."""
    append_chained(conn, events)
    ids = select(AuditLog.id).where(AuditLog.event_id.in_([event.event_id for event in events]))
    return list(conn.scalars(ids.order_by(AuditLog.id)))


def store(engine: Engine | Connection, *events: TaskEvent) -> list[int]:
    """Insert the events' rows as the worker does (hash-chained, one transaction); returns their ids."""
    if not events:
        return []
    if isinstance(engine, Connection):
        return _store(engine, events)
    with engine.begin() as conn:
        return _store(conn, events)


@dataclass
class Trail:
    """Builds a user's trail with increasing, distinct timestamps (one millisecond apart by default)."""

    engine: Engine
    user_id: str
    start: datetime = field(default_factory=lambda: datetime(2026, 1, 1, 12, 0, tzinfo=UTC))
    step: timedelta = timedelta(milliseconds=1)
    count: int = 0

    def add(self, event_type: str = "created", *, task_id: int = 1, **task: Any) -> TaskEvent:
        """Store one event for this user, later than the previous one; returns it."""
        moment = self.start + self.step * self.count
        self.count += 1
        event = make_event(
            user_id=self.user_id, task_id=task_id, event_type=event_type, timestamp=moment, **task
        )
        store(self.engine, event)
        return event


def bulk_insert(conn: Connection, *, user_id: str, rows: int, start: datetime) -> None:
    """Insert `rows` worker-shaped rows in one INSERT ... SELECT generate_series (for volume tests).

    Their hashes are zero placeholders, not a chain: volume tests measure queries, not verification.
    """
    conn.execute(
        text(
            """
            INSERT INTO audit_log (event_id, event_type, user_id, task_id, event_data, timestamp,
                                   prev_hash, hash)
            SELECT e.id, e.kind, CAST(:user_id AS varchar), e.task, jsonb_build_object(
                       'event_id', e.id::text, 'event_type', e.kind,
                       'timestamp', to_char(e.ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                       'user_id', CAST(:user_id AS text), 'task_id', e.task,
                       'task_data', jsonb_build_object('title', 'Task ' || e.task,
                                                       'description', 'row ' || e.n,
                                                       'completed', e.kind = 'completed')),
                   e.ts, e.zero, e.zero
            FROM (SELECT g AS n, decode(repeat('00', 32), 'hex') AS zero, gen_random_uuid() AS id,
                         (g / 4 + 1)::bigint AS task,
                         (ARRAY['created', 'updated', 'completed', 'deleted'])[g % 4 + 1] AS kind,
                         CAST(:start AS timestamptz) + g * interval '1 millisecond' AS ts
                  FROM generate_series(0, CAST(:rows AS integer) - 1) AS g) AS e
            """
        ),
        {"user_id": user_id, "rows": rows, "start": start},
    )


def mirror_outbox(engine: Engine, *, after_id: int = 0) -> int:
    """Copy outbox events newer than `after_id` into audit_log as the worker would; returns the last id seen.

    A stand-in for the stream worker (outbox -> Kafka -> Faust -> audit_log) in tests that run without it.
    """
    with engine.begin() as conn:
        pending = conn.execute(
            select(OutboxEvent.id, OutboxEvent.payload)
            .where(OutboxEvent.id > after_id)
            .order_by(OutboxEvent.id)
        ).all()
        for outbox_id, payload in pending:
            append_chained(conn, [parse_event(payload)])
            after_id = outbox_id
    return after_id
