"""The worker's webhook SQL: queue deliveries for a batch, lease the ones due, record what happened."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from shared.events import TaskEvent

ENQUEUE = text("""
    INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, payload)
    SELECT e.id, (ev->>'event_id')::uuid, ev->>'event_type', ev
    FROM jsonb_array_elements(CAST(:events AS jsonb)) WITH ORDINALITY AS t(ev, n)
    JOIN webhook_endpoints e
      ON e.user_id = ev->>'user_id' AND e.disabled_at IS NULL AND (ev->>'event_type') = ANY(e.event_types)
    ORDER BY t.n, e.id
    ON CONFLICT (endpoint_id, event_id) DO NOTHING
""")

SUBSCRIBED = text("""
    SELECT DISTINCT user_id FROM webhook_endpoints WHERE user_id = ANY(:users) AND disabled_at IS NULL
""")

# Per endpoint only the oldest pending delivery may go (order per user); it is leased so that
# another worker running the same statement skips it, and counted as an attempt before it is sent.
LEASE_DUE = text("""
    WITH heads AS (
        SELECT DISTINCT ON (d.endpoint_id) d.id, d.next_attempt_at, d.leased_until
        FROM webhook_deliveries d
        JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.disabled_at IS NULL
        WHERE d.status = 'pending'
        ORDER BY d.endpoint_id, d.id
    ), due AS (
        SELECT id FROM heads
        WHERE next_attempt_at <= now() AND (leased_until IS NULL OR leased_until < now())
        ORDER BY id LIMIT :limit
    )
    UPDATE webhook_deliveries d
    SET leased_until = now() + make_interval(secs => :lease_seconds), attempts = d.attempts + 1
    FROM due, webhook_endpoints e
    WHERE d.id = due.id AND e.id = d.endpoint_id AND (d.leased_until IS NULL OR d.leased_until < now())
    RETURNING d.id, d.event_id, d.payload, d.attempts, e.id AS endpoint_id, e.url, e.secret
""")


@dataclass(frozen=True)
class Due:
    """A leased delivery with what it takes to send it."""

    id: int
    event_id: str
    payload: dict[str, Any]
    attempts: int
    endpoint_id: int
    url: str
    secret: str


def enqueue(session: Session, events: Sequence[TaskEvent]) -> int:
    """Queue each event for every enabled endpoint of its owner that wants its type; returns how many."""
    users = sorted({event.user_id for event in events})
    subscribed = set(session.scalars(SUBSCRIBED, {"users": users})) if users else set()
    chosen = [event.to_dict() for event in events if event.user_id in subscribed]
    if not chosen:
        return 0
    return int(session.execute(ENQUEUE, {"events": json.dumps(chosen)}).rowcount or 0)  # type: ignore[attr-defined]


def lease_due(session: Session, *, limit: int, lease: timedelta) -> list[Due]:
    """Lease the deliveries that may go now (one per endpoint), oldest first."""
    rows = session.execute(LEASE_DUE, {"limit": limit, "lease_seconds": lease.total_seconds()})
    return [Due(**{**row._mapping, "event_id": str(row.event_id)}) for row in rows]


def record_success(session: Session, due: Due, status: int | None) -> None:
    """Mark a delivery done and its endpoint healthy."""
    session.execute(
        text("""UPDATE webhook_deliveries SET status = 'delivered', finished_at = now(), leased_until = NULL,
                last_status = :status, last_error = NULL WHERE id = :id"""),
        {"id": due.id, "status": status},
    )
    session.execute(
        text("UPDATE webhook_endpoints SET failing_since = NULL WHERE id = :id"), {"id": due.endpoint_id}
    )


def record_failure(
    session: Session,
    due: Due,
    *,
    status: int | None,
    error: str,
    retry_in: timedelta | None,
    disable_after: timedelta,
) -> None:
    """Schedule the next attempt (retry_in) or fail the delivery for good; disable a long-failing endpoint."""
    session.execute(
        text("""UPDATE webhook_deliveries SET leased_until = NULL, last_status = :status, last_error = :error,
                status = CASE WHEN :final THEN 'failed' ELSE 'pending' END,
                finished_at = CASE WHEN :final THEN now() END,
                next_attempt_at = now() + make_interval(secs => :retry_seconds)
                WHERE id = :id"""),
        {
            "id": due.id,
            "status": status,
            "error": error[:1000],
            "final": retry_in is None,
            "retry_seconds": (retry_in or timedelta()).total_seconds(),
        },
    )
    expired = session.scalar(
        text("""UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, now()) WHERE id = :id
                RETURNING failing_since <= now() - make_interval(secs => :after)"""),
        {"id": due.endpoint_id, "after": disable_after.total_seconds()},
    )
    if expired:
        hours = f"{disable_after.total_seconds() / 3600:g}"
        session.execute(
            text(
                "UPDATE webhook_endpoints SET disabled_at = now(), disabled_reason = :reason WHERE id = :id"
            ),
            {
                "id": due.endpoint_id,
                "reason": f"deliveries failed for {hours} hours; last error: {error[:300]}",
            },
        )
