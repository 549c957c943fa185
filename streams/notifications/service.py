"""What the notifications agent does with one event.

Order: claim (commit a `sent_notifications` row) and only then send. If the worker dies between the
two, the event is redelivered, finds the claim and sends nothing: a mail can be lost but is never
sent twice, which is what "at most one email per event_id" asks. Sending first and recording after
would, on a crash in between, send it again on redelivery. While this process holds a claim it retries
transient SMTP failures itself. Anything else that goes wrong (a refusal, a mail that cannot be built,
an error of unforeseen kind) is about this event: the claim is dropped and the message dead-lettered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from faust.types import EventT

from shared.events import TaskEvent
from shared.settings import Settings
from streams.database import worker_sessions
from streams.deadletter import dead_letter
from streams.decoding import DecodeError, try_decode
from streams.notifications.mailer import build_completion_message, send_message
from streams.notifications.store import claim_notification, opted_in_recipient, release_claim
from streams.retry import describe, retry_transient

T = TypeVar("T")
log = logging.getLogger(__name__)


def wants_mail(decoded: TaskEvent | DecodeError) -> bool:
    """Only valid `completed` events produce mail (the audit agent dead-letters invalid ones)."""
    return isinstance(decoded, TaskEvent) and decoded.event_type == "completed"


async def _db(settings: Settings, what: str, func: Callable[..., T], /, **kwargs: Any) -> T:
    """Run a blocking store call in a thread, retrying while the database is unreachable."""
    return await retry_transient(
        lambda: asyncio.to_thread(func, sessions=worker_sessions(settings), **kwargs),
        what=what,
        max_backoff=settings.retry_max_backoff_seconds,
    )


async def send_completion_mail(task_event: TaskEvent, *, settings: Settings) -> bool:
    """Claim and send the completion mail for an event; False if none was due (opted out, already sent)."""
    recipient = await _db(settings, "recipient lookup", opted_in_recipient, user_id=task_event.user_id)
    if recipient is None:
        return False
    message = build_completion_message(event=task_event, recipient=recipient, mail_from=settings.mail_from)
    claimed = await _db(settings, "claim", claim_notification, event=task_event, recipient=recipient)
    if not claimed:
        return False
    await retry_transient(
        lambda: asyncio.to_thread(send_message, message=message, settings=settings),
        what=f"completion mail to {recipient}",
        max_backoff=settings.retry_max_backoff_seconds,
    )
    log.info("completion mail for event %s sent to %s", task_event.event_id, recipient)
    return True


async def notify(event: EventT, *, settings: Settings) -> None:
    """Mail the owner of a completed task once; a permanent mail failure goes to the DLQ."""
    decoded = try_decode(event.message.value, max_bytes=settings.max_event_bytes)
    if not isinstance(decoded, TaskEvent) or not wants_mail(decoded):
        return
    try:
        await send_completion_mail(decoded, settings=settings)
    except Exception as exc:
        # Transient failures were retried inside; what reaches here is about this event, for good.
        log.error("completion mail for event %s failed for good: %s", decoded.event_id, describe(exc))
        await _db(settings, "claim release", release_claim, event_id=decoded.event_id)
        ceiling = settings.retry_max_backoff_seconds
        await dead_letter(event, reason="mail-rejected", message=describe(exc), max_backoff=ceiling)
