"""Writing events into the outbox inside the caller's transaction, and telling who cares after commit."""

from __future__ import annotations

from collections.abc import Callable

from shared.db import SessionLike
from shared.events import TaskEvent
from shared.models import OutboxEvent
from web.outbox.repository import notify_pending

CommitListener = Callable[[list[TaskEvent]], None]
_listeners: list[CommitListener] = []


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
    """Commit the change together with its events, then hand the events to the listeners."""
    for event in events:
        add_event(session=session, event=event)
    if events:
        notify_pending(session=session)
    session.commit()
    for listener in list(_listeners):
        listener(events)


def add_commit_listener(listener: CommitListener) -> None:
    """Be told of events right after their transaction commits (the fast publish path)."""
    if listener not in _listeners:
        _listeners.append(listener)


def remove_commit_listener(listener: CommitListener) -> None:
    """Stop telling a listener about committed events."""
    if listener in _listeners:
        _listeners.remove(listener)
