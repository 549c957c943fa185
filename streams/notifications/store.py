"""The notification SQL: who gets the mail, and the sent-record that makes it at most once."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, sessionmaker

from shared.db import transaction
from shared.events import TaskEvent
from shared.models import SentNotification, User


def opted_in_recipient(*, sessions: sessionmaker[Session], user_id: str) -> str | None:
    """The user's email if they exist and want completion emails, else None."""
    with transaction(sessions) as session:
        row = session.execute(select(User.email, User.email_notifications).where(User.id == user_id)).first()
    if row is None or not row.email_notifications:
        return None
    return str(row.email)


def claim_notification(*, sessions: sessionmaker[Session], event: TaskEvent, recipient: str) -> bool:
    """Record the mail as sent (committed) before sending; False if this event already has a record."""
    statement = (
        insert(SentNotification)
        .values(event_id=event.event_id, user_id=event.user_id, task_id=event.task_id, recipient=recipient)
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(SentNotification.event_id)
    )
    with transaction(sessions) as session:
        return session.execute(statement).first() is not None


def release_claim(*, sessions: sessionmaker[Session], event_id: uuid.UUID) -> None:
    """Forget a record whose mail was refused for good, so a replay from the DLQ may send it."""
    with transaction(sessions) as session:
        session.execute(delete(SentNotification).where(SentNotification.event_id == event_id))
