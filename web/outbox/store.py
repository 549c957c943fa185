"""Writing events into the outbox inside the caller's transaction, and waking the relay on commit."""

from __future__ import annotations

from shared.db import SessionLike
from shared.events import TaskEvent
from shared.models import OutboxEvent
from web.outbox.repository import notify_pending


def add_event(*, session: SessionLike, event: TaskEvent) -> OutboxEvent:
    """Stage the event in the outbox; it commits (or rolls back) with the caller's change."""
    row = OutboxEvent(
        event_id=event.event_id,
        user_id=event.user_id,
        event_type=event.event_type,
        payload=event.to_dict(),
    )
    session.add(row)
    return row


def commit_with_events(*, session: SessionLike, events: list[TaskEvent]) -> None:
    """Commit the change with its events; the NOTIFY in the same transaction wakes the active relay."""
    for event in events:
        add_event(session=session, event=event)
    if events:
        notify_pending(session=session)
    session.commit()
