"""Retrying transient failures (database or mail server down) with capped exponential backoff."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError

T = TypeVar("T")
log = logging.getLogger(__name__)


def is_transient_db_error(exc: BaseException) -> bool:
    """Whether a database error means 'try again later' (server gone) rather than a bad row."""
    if isinstance(exc, OperationalError | OSError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def backoff_delays(*, initial: float = 0.1, ceiling: float = 30.0) -> Callable[[int], float]:
    """A delay function: attempt n waits initial * 2**n seconds, capped at the ceiling."""
    return lambda attempt: min(ceiling, initial * 2 ** min(attempt, 30))


async def retry_transient(
    work: Callable[[], Awaitable[T]],
    *,
    is_transient: Callable[[BaseException], bool],
    what: str,
    max_backoff: float,
) -> T:
    """Await work() until it succeeds; transient errors wait and retry forever, others propagate."""
    delay = backoff_delays(ceiling=max_backoff)
    attempt = 0
    while True:
        try:
            return await work()
        except Exception as exc:
            if not is_transient(exc):
                raise
            wait = delay(attempt)
            log.warning("%s failed (%s: %s); retrying in %.1fs", what, type(exc).__name__, exc, wait)
            attempt += 1
            await asyncio.sleep(wait)
