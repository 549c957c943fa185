"""The notification SQL: who gets the mail, and the claim that makes it effectively exactly once.

A row is a claim (sent_at NULL, claimed_by a token of its holder) until the mail is sent. A claim
older than the timeout was left by a worker that died between claim and send: anyone may take it
over (a new token, a fresh claimed_at) and send the mail; the old holder, should it still be alive,
sees on its next refresh that the claim is no longer its own and does not send.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import Interval, Table, bindparam, delete, func, literal_column, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, sessionmaker

from shared.db import transaction
from shared.driver import DriverStatement
from shared.events import TaskEvent
from shared.models import SentNotification, User


@dataclass(frozen=True)
class StaleClaim:
    """A claim taken over from a holder that never sent: the event and where its mail goes."""

    event_data: dict[str, Any]
    recipient: str


# The table, not the mapped class: these statements return plain rows, and the ORM's bulk paths (its
# UPDATE synchronisation, its INSERT ... RETURNING handling) cost more than the statements on the
# mail path, which runs once per completion (issue 9).
SENT = cast(Table, SentNotification.__table__)


def _stale(timeout: Any) -> Any:
    """The condition of a claim whose holder has not sent the mail within the timeout (an interval)."""
    return SENT.c.sent_at.is_(None) & (SENT.c.claimed_at < func.now() - timeout)


def _sent(event_id: Any) -> Any:
    """The statement recording that an event's mail went out (an id, or a bound parameter for one)."""
    return update(SENT).where(SENT.c.event_id == event_id).values(sent_at=func.now())


def opted_in_recipients(*, sessions: sessionmaker[Session], user_ids: Sequence[str]) -> dict[str, str]:
    """The email of each of these users who exists and wants completion emails."""
    statement = select(User.id, User.email).where(User.id.in_(user_ids), User.email_notifications)
    with transaction(sessions) as session:
        return {str(row.id): str(row.email) for row in session.execute(statement)}


def _claim_statement() -> Any:
    """Mark `settling` sent and claim `event_id`'s mail, in one statement (so one round trip, alone).

    The claim inserts the row, or takes over one whose holder never sent it (stale) or that this
    token already holds (a retry whose commit went in unseen); RETURNING says whether it is ours.
    """
    settled = _sent(bindparam("settling")).cte("settled")
    values = {"claimed_at": func.now(), "claimed_by": bindparam("token"), "recipient": bindparam("recipient")}
    row = insert(SENT).values(
        event_id=bindparam("event_id"), user_id=bindparam("user_id"), task_id=bindparam("task_id"),
        event_data=bindparam("event_data", type_=SENT.c.event_data.type), **values,
    )  # fmt: skip
    stale = _stale(bindparam("timeout", type_=Interval))
    ours = (SENT.c.claimed_by == bindparam("token")) & SENT.c.sent_at.is_(None)
    claim = row.on_conflict_do_update(index_elements=["event_id"], set_=values, where=stale | ours)
    return claim.returning(literal_column("true")).add_cte(settled)


# Compiled once and run on the driver (shared.driver): the mail path claims once per completion, and
# building and executing the statement through SQLAlchemy was the largest part of it (py-spy).
_CLAIM = DriverStatement(_claim_statement())


def claim_notification(
    *,
    sessions: sessionmaker[Session],
    event: TaskEvent,
    recipient: str,
    token: uuid.UUID,
    timeout: float,
    settling: uuid.UUID | None = None,
) -> bool:
    """Claim the event's mail for token (committed before sending); False if sent or held by another.

    A claim this token already holds is taken again: a retry whose first commit went in unseen must
    not lose its own claim. `settling`, the event id of a mail this worker has just sent, is marked
    sent in the same statement: a batch of mails costs one commit per mail, not two.
    """
    params = {
        "settling": settling, "event_id": event.event_id, "user_id": event.user_id, "task_id": event.task_id,
        "event_data": event.to_dict(), "token": token, "recipient": recipient,
        "timeout": timedelta(seconds=timeout),
    }  # fmt: skip
    with sessions() as session:
        return bool(_CLAIM.execute(session=session, params=params, alone=True))


def refresh_claim(*, sessions: sessionmaker[Session], event_id: uuid.UUID, token: uuid.UUID) -> bool:
    """Renew our claim before a send attempt; False if another worker took it over (or it is sent)."""
    statement = (
        update(SENT)
        .where(SENT.c.event_id == event_id, SENT.c.claimed_by == token, SENT.c.sent_at.is_(None))
        .values(claimed_at=func.now())
        .returning(SENT.c.event_id)
    )
    with transaction(sessions) as session:
        return session.execute(statement).first() is not None


def mark_sent(*, sessions: sessionmaker[Session], event_id: uuid.UUID) -> None:
    """Record that the mail went out, which ends the claim for good."""
    with transaction(sessions) as session:
        session.execute(_sent(event_id))


def take_stale_claims(
    *, sessions: sessionmaker[Session], token: uuid.UUID, timeout: float, limit: int
) -> list[StaleClaim]:
    """Take over up to `limit` claims left unsent past the timeout (skipping rows others are taking)."""
    stale = (
        select(SentNotification.event_id)
        .where(_stale(timedelta(seconds=timeout)), SentNotification.event_data.is_not(None))
        .order_by(SentNotification.claimed_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    statement = (
        update(SentNotification)
        .where(SentNotification.event_id.in_(stale), _stale(timedelta(seconds=timeout)))
        .values(claimed_at=func.now(), claimed_by=token)
        .returning(SentNotification.event_data, SentNotification.recipient)
    )
    with transaction(sessions) as session:
        return [StaleClaim(dict(row.event_data), str(row.recipient)) for row in session.execute(statement)]


def release_claim(*, sessions: sessionmaker[Session], event_id: uuid.UUID) -> None:
    """Forget a claim whose mail was refused for good, so a replay from the DLQ may send it."""
    with transaction(sessions) as session:
        session.execute(delete(SentNotification).where(SentNotification.event_id == event_id))
