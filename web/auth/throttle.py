"""Sign-in throttling: fixed-window attempt counters in PostgreSQL, per client address and per account.

PostgreSQL, not process memory, so the limits hold across gunicorn workers and web replicas; one
upsert per key per attempt. Windows are fixed (they start at a key's first attempt), which lets a
client make at most twice the limit around a window boundary: a bound, and simple to reason about.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from flask import current_app, request
from sqlalchemy import case, delete, func
from sqlalchemy.dialects.postgresql import insert

from shared.db import SessionLike
from shared.settings import Settings
from web.auth.models import RateLimit
from web.errors import ApiError


class TooManyAttempts(ApiError):
    """429 with Retry-After: this client or account used up its attempts for the window."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(429, "too_many_attempts", f"too many attempts; try again in {retry_after} s")
        self.headers = {"Retry-After": str(retry_after)}
        self.retry_after = retry_after


def hit(*, session: SessionLike, key: str, limit: int, window: timedelta) -> int | None:
    """Count one attempt for key; the seconds until its window ends when over the limit, else None."""
    now = func.now()
    expired = RateLimit.window_start <= now - window
    statement = (
        insert(RateLimit)
        .values(key=key, window_start=now, hits=1)
        .on_conflict_do_update(
            index_elements=["key"],
            set_={
                "hits": case((expired, 1), else_=RateLimit.hits + 1),
                "window_start": case((expired, now), else_=RateLimit.window_start),
            },
        )
        .returning(RateLimit.hits, func.ceil(func.extract("epoch", RateLimit.window_start + window - now)))
    )
    hits, remaining = session.execute(statement).one()
    session.execute(delete(RateLimit).where(RateLimit.window_start < now - window))
    session.commit()
    return max(int(remaining), 1) if hits > limit else None


def throttle(*, session: SessionLike, action: str, account: str | None) -> None:
    """Count a login, registration or refresh for this client and account; TooManyAttempts when over."""
    settings: Settings = current_app.config["TODO_SETTINGS"]
    window = timedelta(seconds=settings.auth_rate_limit_window_seconds)
    keys = [(f"{action}:client:{request.remote_addr}", settings.auth_rate_limit_per_client)]
    if account:
        # A digest: the account is as typed (it may hold NUL or lone surrogates), and no email is kept.
        digest = hashlib.sha256(account.encode("utf-8", "surrogatepass")).hexdigest()
        keys.append((f"{action}:account:{digest}", settings.auth_rate_limit_per_account))
    waits = [hit(session=session, key=key, limit=limit, window=window) for key, limit in keys]
    worst = max((wait for wait in waits if wait is not None), default=None)
    if worst is not None:
        raise TooManyAttempts(worst)
