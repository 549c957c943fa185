"""Writing events into the outbox inside the caller's transaction, and waking the relay on commit."""

from __future__ import annotations

from shared.db import SessionLike
from shared.events import TaskEvent
from web.outbox.repository import insert_events


def commit_with_events(*, session: SessionLike, events: list[TaskEvent]) -> None:
    """Commit the change with its events; the NOTIFY in the same transaction wakes the active relay."""
    if events:
        insert_events(
            session=session,
            rows=[
                {
                    "event_id": event.event_id,
                    "user_id": event.user_id,
                    "event_type": event.event_type,
                    "payload": event.to_dict(),
                }
                for event in events
            ],
        )
    session.commit()
