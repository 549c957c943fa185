"""Writing events into the outbox inside the caller's transaction, and waking the relay on commit."""

from __future__ import annotations

from typing import Any

from shared.db import SessionLike
from shared.events import TaskEvent
from web.outbox.repository import insert_events


def outbox_row(event: TaskEvent) -> dict[str, Any]:
    """The outbox row's values for an event (the parameters of insert_events and event_insert_after)."""
    return {
        "event_id": event.event_id,
        "user_id": event.user_id,
        "event_type": event.event_type,
        "payload": event.to_dict(),
    }


def commit_with_events(*, session: SessionLike, events: list[TaskEvent]) -> None:
    """Commit the change with its events; the NOTIFY in the same transaction wakes the active relay."""
    if events:
        insert_events(session=session, rows=[outbox_row(event) for event in events])
    session.commit()
