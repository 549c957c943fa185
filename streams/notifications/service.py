"""What the notifications agent does with a batch of completions, and how an unsent mail goes after all.

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
from collections.abc import Callable, Sequence
from email.message import Message
from typing import Any, TypeVar

from faust.types import EventT

from shared.events import TaskEvent, parse_event
from shared.mail import MailConnection
from shared.settings import Settings
from streams.database import worker_sessions
from streams.deadletter import dead_letter, dead_letter_value
from streams.decoding import DecodeError, try_decode
from streams.metrics import MAILS, observe_notification
from streams.notifications.abuse import mail_allowances
from streams.notifications.mailer import build_completion_message
from streams.notifications.store import (
    claim_notification,
    mark_sent,
    opted_in_recipients,
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


async def deliver(
    *, event: TaskEvent, message: Message, token: uuid.UUID, settings: Settings, connection: MailConnection
) -> bool:
    """Send a taken-over claim's mail (see send_claimed), then mark it sent; False if the claim was lost."""
    sent = await send_claimed(
        event=event, message=message, token=token, settings=settings, connection=connection
    )
    if sent:
        await _db(settings, "mark sent", mark_sent, event_id=event.event_id)
    return sent


async def send_claimed(
    *,
    event: TaskEvent,
    message: Message,
    token: uuid.UUID,
    settings: Settings,
    connection: MailConnection,
    claimed_at: float | None = None,
) -> bool:
    """Send a claimed mail, retrying transient failures while the claim stays ours; True once it went.

    The claim is renewed before each attempt (it may have been taken over meanwhile), except the first
    one of a claim taken moments ago (`claimed_at`, loop time): no other worker may take a claim over
    before it is MAIL_CLAIM_TIMEOUT_SECONDS old, so checking then would cost a transaction per mail
    for nothing. The caller marks the mail sent.
    """
    loop = asyncio.get_running_loop()
    fresh_until = claimed_at + settings.mail_claim_timeout_seconds / 2 if claimed_at is not None else None

    async def attempt() -> bool:
        """One send, unless another worker has taken the claim over meanwhile."""
        nonlocal fresh_until
        renew = fresh_until is None or loop.time() > fresh_until
        fresh_until = None  # a retry renews the claim first
        if renew and not await _db(
            settings, "claim refresh", refresh_claim, event_id=event.event_id, token=token
        ):
            return False
        await asyncio.to_thread(connection.send, message)
        return True

    what = f"completion mail for event {event.event_id}"
    sent = await retry_transient(attempt, what=what, max_backoff=settings.retry_max_backoff_seconds)
    if sent:
        log.info("completion mail for event %s sent", event.event_id, extra={"event_id": event.event_id})
        MAILS.labels("sent").inc()
    return sent


async def notify_batch(events: Sequence[EventT], *, settings: Settings) -> None:
    """Mail the owners of a batch's completions once each, with a few statements for the whole batch.

    Who is opted in and how many mails each user may still get are read once for the batch; each
    mail is then claimed, sent over the batch's one SMTP connection and marked sent, one at a time, so
    a worker killed mid-batch leaves at most the mail in flight unsettled, as with one event at a time.
    """
    completions = _completions(events, settings=settings)
    if completions:
        await _mail_completions(completions, settings=settings)


async def _mail_completions(completions: list[tuple[EventT, TaskEvent]], *, settings: Settings) -> None:
    """Mail these completions; if reading their recipients or allowances fails for good, one by one.

    Nothing is claimed before those reads, so going one by one repeats nothing, and only an event at
    fault (alone, it still fails) is dead-lettered.
    """
    try:
        due = await _due(completions, settings=settings)
    except Exception as exc:
        if len(completions) == 1:
            await _fail(*completions[0], exc, settings=settings)
            return
        log.warning("reading a mail batch's recipients failed, mailing it event by event: %s", describe(exc))
        for completion in completions:
            await _mail_completions([completion], settings=settings)
        return
    connection = MailConnection(settings)
    unmarked: uuid.UUID | None = None
    try:
        for event, task_event, recipient in due:
            unmarked = await _mail_one(
                event, task_event, recipient, connection=connection, settings=settings, unmarked=unmarked
            )
    finally:
        try:
            await _settle(unmarked, settings=settings)
        finally:
            await asyncio.to_thread(connection.close)


async def _settle(unmarked: uuid.UUID | None, *, settings: Settings) -> None:
    """Mark a sent mail sent on its own (the batch's last, or one whose successor failed).

    Should that fail for good, the claim stays: once stale, a sweep sends the mail again (a repeat
    its Message-ID makes recognisable), which beats stopping the agent over a mail that went out.
    """
    if unmarked is None:
        return
    try:
        await _db(settings, "mark sent", mark_sent, event_id=unmarked)
    except Exception as exc:
        log.error("marking the mail for event %s sent failed: %s", unmarked, describe(exc),
                  extra={"event_id": unmarked})  # fmt: skip


def _completions(events: Sequence[EventT], *, settings: Settings) -> list[tuple[EventT, TaskEvent]]:
    """The batch's valid completions, each event id once (a second publication has nothing to add)."""
    found: dict[uuid.UUID, tuple[EventT, TaskEvent]] = {}
    for event in events:
        decoded = try_decode(event.message.value, max_bytes=settings.max_event_bytes)
        if isinstance(decoded, TaskEvent) and wants_mail(decoded):
            found.setdefault(decoded.event_id, (event, decoded))
    return list(found.values())


async def _due(
    completions: list[tuple[EventT, TaskEvent]], *, settings: Settings
) -> list[tuple[EventT, TaskEvent, str]]:
    """The completions whose owner wants mail and may get one more, each with the address."""
    user_ids = sorted({task_event.user_id for _, task_event in completions})
    recipients = await _db(settings, "recipient lookup", opted_in_recipients, user_ids=user_ids)
    event_ids = [task_event.event_id for _, task_event in completions]
    allowances = await _db(
        settings, "mail limits", mail_allowances, user_ids=user_ids, settings=settings, excluding=event_ids
    )
    due = []
    for event, task_event in completions:
        recipient = recipients.get(task_event.user_id)
        if recipient is None or allowances[task_event.user_id] <= 0:
            observe_notification(task_event.event_type, "skipped")
            continue
        allowances[task_event.user_id] -= 1
        due.append((event, task_event, recipient))
    return due


async def _mail_one(
    event: EventT,
    task_event: TaskEvent,
    recipient: str,
    *,
    connection: MailConnection,
    settings: Settings,
    unmarked: uuid.UUID | None,
) -> uuid.UUID | None:
    """Claim and send one due mail; a permanent failure is this event's alone (DLQ).

    The claim's transaction also marks `unmarked`, the batch's previous mail, sent. Returns this
    mail's event id if it went out, for the next claim (or the batch's end) to mark, else None.
    """
    try:
        message = build_completion_message(
            event=task_event, recipient=recipient, mail_from=settings.mail_from
        )
        token = uuid.uuid4()
        claimed = await _db(
            settings, "claim", claim_notification, event=task_event, recipient=recipient, token=token,
            timeout=settings.mail_claim_timeout_seconds, settling=unmarked,
        )  # fmt: skip
        unmarked = None
        sent = claimed and await send_claimed(
            event=task_event, message=message, token=token, settings=settings, connection=connection,
            claimed_at=asyncio.get_running_loop().time(),
        )  # fmt: skip
    except Exception as exc:
        await _settle(unmarked, settings=settings)
        await _fail(event, task_event, exc, settings=settings)
        return None
    observe_notification(task_event.event_type, "sent" if sent else "skipped")
    return task_event.event_id if sent else None


async def _fail(event: EventT, task_event: TaskEvent, exc: Exception, *, settings: Settings) -> None:
    """A mail refused for good: drop its claim and dead-letter its event."""
    # Transient failures were retried inside; what reaches here is about this event, for good.
    log.error("completion mail for event %s failed for good: %s", task_event.event_id, describe(exc),
              extra={"event_id": task_event.event_id})  # fmt: skip
    MAILS.labels("failed").inc()
    await _db(settings, "claim release", release_claim, event_id=task_event.event_id)
    ceiling = settings.retry_max_backoff_seconds
    await dead_letter(event, reason="mail-rejected", message=describe(exc), max_backoff=ceiling)
    observe_notification(task_event.event_type, "dead_lettered")


async def resend_stale_claims(*, settings: Settings) -> int:
    """Send the mails whose claims were left unsent past the timeout; returns how many went out."""
    token = uuid.uuid4()
    claims = await _db(
        settings, "stale claims", take_stale_claims, token=token,
        timeout=settings.mail_claim_timeout_seconds, limit=SWEEP_LIMIT,
    )  # fmt: skip
    sent = 0
    connection = MailConnection(settings)
    try:
        for claim in claims:
            try:
                event = parse_event(claim.event_data)
                message = build_completion_message(
                    event=event, recipient=claim.recipient, mail_from=settings.mail_from
                )
                sent += await deliver(
                    event=event, message=message, token=token, settings=settings, connection=connection
                )
            except Exception as exc:
                await _give_up(claim.event_data, exc, settings=settings)
    finally:
        await asyncio.to_thread(connection.close)
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
