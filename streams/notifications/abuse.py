"""Who may get a completion mail at all: a verified address (in production) and a per-user hourly cap.

Kept apart from the mail's exactly-once claim (store.py): this only decides whether a mail is due.
A mail over the cap is skipped, not delayed: the cap exists so an account cannot turn the worker into
a mail cannon against an address, and a delayed flood would still be a flood.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shared.db import transaction
from shared.models import SentNotification, User
from shared.settings import Settings


def mail_allowed(*, sessions: sessionmaker[Session], user_id: str, settings: Settings) -> bool:
    """Whether this user may get another completion mail now."""
    since = datetime.now(UTC) - timedelta(hours=1)
    taken_at = func.coalesce(SentNotification.sent_at, SentNotification.claimed_at)
    sent = select(func.count()).where(SentNotification.user_id == user_id, taken_at >= since)
    with transaction(sessions) as session:
        verified_at = session.scalar(select(User.email_verified_at).where(User.id == user_id))
        sent_last_hour = session.scalar(sent) or 0
    if settings.requires_verified_email and verified_at is None:
        return False
    return sent_last_hour < settings.mail_rate_limit_per_hour
