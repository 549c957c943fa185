"""The checks behind the readiness probe."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from shared.db import SessionLike
from shared.settings import Settings
from web.outbox.repository import backlog, parked_count


def database_problem(*, session: SessionLike) -> str | None:
    """None when the database answers, else a short reason."""
    try:
        session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        session.rollback()
        return f"unreachable: {type(exc).__name__}"
    return None


def outbox_status(*, session: SessionLike, settings: Settings) -> tuple[dict[str, object], str | None]:
    """The events waiting to be published, and a reason when past the READYZ_MAX_BACKLOG* limits.

    Parked events are shown but never make the pod unready: restarting it would not publish them.
    """
    waiting = backlog(session=session, cap=settings.readyz_max_backlog)
    figures: dict[str, object] = {
        "pending": waiting.pending,
        "oldest_age_seconds": waiting.oldest_age,
        "parked": parked_count(session=session),
    }
    if waiting.pending > settings.readyz_max_backlog:
        return figures, f"more than {settings.readyz_max_backlog} events waiting"
    if waiting.oldest_age > settings.readyz_max_backlog_age_seconds:
        return figures, f"oldest event waiting over {settings.readyz_max_backlog_age_seconds:g}s"
    return figures, None
