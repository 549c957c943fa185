"""The checks behind the readiness probe."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from shared.db import SessionLike


def database_problem(*, session: SessionLike) -> str | None:
    """None when the database answers, else a short reason."""
    try:
        session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        session.rollback()
        return f"unreachable: {type(exc).__name__}"
    return None
