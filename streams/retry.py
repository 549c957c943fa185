"""Every worker failure classified once: transient (a dependency is down) or permanent (the message).

Transient means the database, the broker or the mail server cannot be reached right now: the work
is retried with the shared backoff (shared.retry) for as long as that lasts, and the message is never
skipped. Anything else is about the message itself, and so is every error of a kind not listed here:
the caller dead-letters that one message and moves on. Nothing is retried forever that a retry cannot fix.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
from collections.abc import Awaitable, Callable
from typing import TypeVar

import psycopg
from sqlalchemy.exc import DBAPIError, OperationalError

from shared.retry import Backoff, is_broker_unreachable
from streams.notifications.mailer import is_permanent_mail_error

T = TypeVar("T")
log = logging.getLogger(__name__)


def is_transient_db_error(exc: BaseException) -> bool:
    """Whether a database error means 'server gone, try again' rather than 'this row is refused'."""
    if isinstance(exc, OperationalError | psycopg.OperationalError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def is_transient(exc: BaseException) -> bool:
    """Whether a failure is a dependency being unreachable (retry) rather than about the message."""
    # SMTPNotSupportedError: an address needs SMTPUTF8 and the server lacks it, which no retry changes.
    if is_permanent_mail_error(exc) or isinstance(exc, smtplib.SMTPNotSupportedError):
        return False
    if is_transient_db_error(exc) or is_broker_unreachable(exc):
        return True
    # Sockets, timeouts and smtplib's own errors (4xx, server gone) are all OSErrors.
    return isinstance(exc, OSError)


def describe(exc: BaseException) -> str:
    """One line naming the error, safe to log and to put in a header (no lone surrogates)."""
    first = (str(exc).splitlines() or [""])[0]
    text = f"{type(exc).__name__}: {first}"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


async def retry_transient(
    work: Callable[[], Awaitable[T]],
    *,
    what: str,
    max_backoff: float,
    is_transient: Callable[[BaseException], bool] = is_transient,
) -> T:
    """Await work() until it succeeds; transient errors wait and retry, any other error propagates."""
    policy = Backoff(ceiling=max_backoff)
    attempt = 0
    while True:
        try:
            return await work()
        except Exception as exc:
            if not is_transient(exc):
                raise
            wait = policy.delay(attempt)
            log.warning("%s failed (%s); retrying in %.1fs", what, describe(exc), wait)
            attempt += 1
            await asyncio.sleep(wait)
