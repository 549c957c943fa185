"""The replay command's SQL: which events audit_log already holds, and its counts per user."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shared.counts import counts_from
from shared.models import AuditLog


def existing_event_ids(*, sessions: sessionmaker[Session], event_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """The subset of event_ids that already have an audit row."""
    wanted = list(event_ids)
    if not wanted:
        return set()
    with sessions() as session:
        return set(session.scalars(select(AuditLog.event_id).where(AuditLog.event_id.in_(wanted))))


def audit_counts(*, sessions: sessionmaker[Session]) -> dict[str, dict[str, int]]:
    """Every user's counts as audit_log has them (the database side of `replay --check`)."""
    stmt = select(AuditLog.user_id, AuditLog.event_type, func.count()).group_by(
        AuditLog.user_id, AuditLog.event_type
    )
    per_user: dict[str, dict[str, int]] = defaultdict(dict)
    with sessions() as session:
        for user_id, event_type, count in session.execute(stmt):
            per_user[user_id][event_type] = int(count)
    return {user_id: counts_from(per_type) for user_id, per_type in per_user.items()}
