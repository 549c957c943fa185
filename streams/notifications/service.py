"""What the notifications agent does with one event, and how a mail left unsent is sent after all.

Order: claim (commit a `sent_notifications` row), send, mark sent. A worker killed between claim and
send leaves a claim without a mail: once it is MAIL_CLAIM_TIMEOUT_SECONDS old, the redelivered
event (or, if that came sooner, any worker's sweep) takes it over and sends the mail. A crash after
the send but before marking it sent is the one window where a mail may go twice: its Message-ID is
derived from the event, so the repeat is recognisable downstream. While it holds a claim, a worker
retries transient SMTP failures itself, renewing the claim before each attempt. Anything else (a
refusal, a mail that cannot be built, an error of unforeseen kind) is about this event: the claim
is dropped and the event dead-lettered.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any, TypeVar

from faust.types import EventT

from shared.events import TaskEvent, parse_event
from shared.mail import send_message
from shared.settings import Settings
from streams.database import worker_sessions
from streams.deadletter import dead_letter, dead_letter_value
from streams.decoding import DecodeError, try_decode
from streams.metrics import MAILS, observe_notification
from streams.notifications.abuse import mail_allowed
from streams.notifications.mailer import build_completion_message
from streams.notifications.store import (
    claim_notification,
    mark_sent,
    opted_in_recipient,
    refresh_claim,
    release_claim,
    take_stale_claims,
)
from streams.retry import describe, retry_transient

T = TypeVar("T")
log = logging.getLogger(__name__)
SWEEP_LIMIT = 100
# The source a mail taken over from a stale claim is dead-lettered with: it was read from no topic.
CLAIM_SOURCE = "sent_notifications"


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


async def deliver(*, event: TaskEvent, message: EmailMessage, token: uuid.UUID, settings: Settings) -> bool:
    """Send a claimed mail, retrying transient failures while the claim stays ours; then mark it sent."""

    async def attempt() -> bool:
        """One send, unless another worker has taken the claim over meanwhile."""
        if not await _db(settings, "claim refresh", refresh_claim, event_id=event.event_id, token=token):
            return False
        await asyncio.to_thread(send_message, message=message, settings=settings)
        return True

    what = f"completion mail for event {event.event_id}"
    sent = await retry_transient(attempt, what=what, max_backoff=settings.retry_max_backoff_seconds)
    if sent:
        await _db(settings, "mark sent", mark_sent, event_id=event.event_id)
        log.info("completion mail for event %s sent", event.event_id, extra={"event_id": event.event_id})
        MAILS.labels("sent").inc()
    return sent


async def send_completion_mail(task_event: TaskEvent, *, settings: Settings) -> bool:
    """Claim and send the completion mail for an event; False if none was due (opted out, already sent)."""
    recipient = await _db(settings, "recipient lookup", opted_in_recipient, user_id=task_event.user_id)
    if recipient is None:
        return False
    if not await _db(settings, "mail limits", mail_allowed, user_id=task_event.user_id, settings=settings):
        return False  # unverified address in production, or the user's hourly cap reached
    message = build_completion_message(event=task_event, recipient=recipient, mail_from=settings.mail_from)
    token = uuid.uuid4()
    claimed = await _db(
        settings, "claim", claim_notification, event=task_event, recipient=recipient, token=token,
        timeout=settings.mail_claim_timeout_seconds,
    )  # fmt: skip
    if not claimed:
        return False
    return await deliver(event=task_event, message=message, token=token, settings=settings)


async def notify(event: EventT, *, settings: Settings) -> None:
    """Mail the owner of a completed task once; a permanent mail failure goes to the DLQ."""
    decoded = try_decode(event.message.value, max_bytes=settings.max_event_bytes)
    if not isinstance(decoded, TaskEvent) or not wants_mail(decoded):
        return
    try:
        sent = await send_completion_mail(decoded, settings=settings)
    except Exception as exc:
        # Transient failures were retried inside; what reaches here is about this event, for good.
        log.error("completion mail for event %s failed for good: %s", decoded.event_id, describe(exc),
                  extra={"event_id": decoded.event_id})  # fmt: skip
        MAILS.labels("failed").inc()
        await _db(settings, "claim release", release_claim, event_id=decoded.event_id)
        ceiling = settings.retry_max_backoff_seconds
        await dead_letter(event, reason="mail-rejected", message=describe(exc), max_backoff=ceiling)
        observe_notification(decoded.event_type, "dead_lettered")
        return
    observe_notification(decoded.event_type, "sent" if sent else "skipped")


async def resend_stale_claims(*, settings: Settings) -> int:
    """Send the mails whose claims were left unsent past the timeout; returns how many went out."""
    token = uuid.uuid4()
    claims = await _db(
        settings, "stale claims", take_stale_claims, token=token,
        timeout=settings.mail_claim_timeout_seconds, limit=SWEEP_LIMIT,
    )  # fmt: skip
    sent = 0
    for claim in claims:
        try:
            event = parse_event(claim.event_data)
            message = build_completion_message(
                event=event, recipient=claim.recipient, mail_from=settings.mail_from
            )
            sent += await deliver(event=event, message=message, token=token, settings=settings)
        except Exception as exc:
            await _give_up(claim.event_data, exc, settings=settings)
    if claims:
        log.info("took over %d unsent mail claim(s), sent %d", len(claims), sent)
    return sent


async def _give_up(event_data: dict[str, Any], exc: Exception, *, settings: Settings) -> None:
    """A taken-over mail refused for good: drop the claim and dead-letter the event it stood for."""
    log.error("completion mail for event %s failed for good: %s", event_data.get("event_id"), describe(exc))
    MAILS.labels("failed").inc()
    await _db(settings, "claim release", release_claim, event_id=uuid.UUID(str(event_data["event_id"])))
    value = json.dumps(event_data, ensure_ascii=False).encode("utf-8", "backslashreplace")
    await dead_letter_value(
        key=str(event_data.get("user_id", "")).encode(), value=value, source=CLAIM_SOURCE,
        reason="mail-rejected", message=describe(exc), max_backoff=settings.retry_max_backoff_seconds,
    )  # fmt: skip
