"""Who may get a completion mail at all: a verified address (in production) and a per-user hourly cap.

Kept apart from the mail's exactly-once claim (store.py): this only decides whether a mail is due.
A mail over the cap is skipped, not delayed: the cap exists so an account cannot turn the worker into
a mail cannon against an address, and a delayed flood would still be a flood.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shared.db import transaction
from shared.models import SentNotification, User
from shared.settings import Settings


def mail_allowances(
    *,
    sessions: sessionmaker[Session],
    user_ids: Sequence[str],
    settings: Settings,
    excluding: Collection[uuid.UUID] = (),
) -> dict[str, int]:
    """How many more completion mails each user may get now (0: none), in one or two queries for them all.

    The addresses are read only where they must be verified (production): elsewhere every user may.

    `excluding` leaves these events' own mails out of the hour's tally: a batch that is redelivered
    counts each of its mails once, as it spends the allowance event by event, not twice.
    """
    since = datetime.now(UTC) - timedelta(hours=1)
    taken_at = func.coalesce(SentNotification.sent_at, SentNotification.claimed_at)
    recent = (
        select(SentNotification.user_id, func.count())
        .where(SentNotification.user_id.in_(user_ids), taken_at >= since)
        .group_by(SentNotification.user_id)
    )
    if excluding:
        recent = recent.where(SentNotification.event_id.not_in(list(excluding)))
    verified_ids = select(User.id).where(User.id.in_(user_ids), User.email_verified_at.is_not(None))
    with transaction(sessions) as session:
        taken = dict(session.execute(recent).all())
        verified = set(session.scalars(verified_ids)) if settings.requires_verified_email else set(user_ids)
    cap = settings.mail_rate_limit_per_hour
    return {
        user_id: max(0, cap - int(taken.get(user_id, 0))) if user_id in verified else 0
        for user_id in user_ids
    }
