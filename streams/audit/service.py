"""What the audit agent does with one batch: insert the valid events, dead-letter the rest."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from faust.types import EventT

from shared.events import TaskEvent
from shared.settings import Settings
from streams.audit.store import insert_audit_rows
from streams.database import worker_sessions
from streams.deadletter import dead_letter_all
from streams.decoding import DecodeError, try_decode
from streams.metrics import observe_audit_batch
from streams.retry import describe, retry_transient

log = logging.getLogger(__name__)


def split_batch(
    events: Sequence[EventT], *, max_bytes: int
) -> tuple[list[tuple[EventT, TaskEvent]], list[tuple[EventT, DecodeError]]]:
    """Decode a batch into (event, TaskEvent) pairs to audit and (event, error) pairs to dead-letter."""
    good: list[tuple[EventT, TaskEvent]] = []
    bad: list[tuple[EventT, DecodeError]] = []
    for event in events:
        decoded = try_decode(event.message.value, max_bytes=max_bytes)
        if isinstance(decoded, DecodeError):
            bad.append((event, decoded))
        else:
            good.append((event, decoded))
    return good, bad


async def _insert(task_events: Sequence[TaskEvent], settings: Settings) -> int:
    """Insert rows in a thread, retrying while the database is unreachable."""
    return await retry_transient(
        lambda: asyncio.to_thread(insert_audit_rows, sessions=worker_sessions(settings), events=task_events),
        what="audit insert",
        max_backoff=settings.retry_max_backoff_seconds,
    )


async def insert_or_isolate(
    good: list[tuple[EventT, TaskEvent]], settings: Settings
) -> list[tuple[EventT, DecodeError]]:
    """Insert the batch; if the database refuses it for good, insert row by row and return the refused."""
    # _insert retries transient failures itself: any error reaching here is about some row (permanent).
    try:
        await _insert([task_event for _, task_event in good], settings)
        return []
    except Exception as exc:
        log.error("audit batch of %d refused (%s); isolating the bad rows", len(good), describe(exc))
    refused: list[tuple[EventT, DecodeError]] = []
    for event, task_event in good:
        try:
            await _insert([task_event], settings)
        except Exception as exc:
            refused.append((event, DecodeError("database-rejected", describe(exc))))
    return refused


async def audit_batch(events: Sequence[EventT], *, settings: Settings) -> list[tuple[EventT, TaskEvent]]:
    """Make a batch durable (audit rows committed, poison messages in the DLQ); returns what was audited."""
    started = time.monotonic()
    good, bad = split_batch(events, max_bytes=settings.max_event_bytes)
    refused = await insert_or_isolate(good, settings) if good else []
    dead = [(event, error.reason, error.message) for event, error in [*bad, *refused]]
    await dead_letter_all(dead, max_backoff=settings.retry_max_backoff_seconds)
    _observe(good, bad_count=len(bad), refused=refused, started=started)
    refused_events = {id(event) for event, _ in refused}
    return [(event, task_event) for event, task_event in good if id(event) not in refused_events]


def _observe(
    good: list[tuple[EventT, TaskEvent]],
    *,
    bad_count: int,
    refused: list[tuple[EventT, DecodeError]],
    started: float,
) -> None:
    """Hand the batch's outcome to the metrics: which events were audited, which dead-lettered."""
    refused_events = {id(event) for event, _ in refused}
    audited = [task_event for event, task_event in good if id(event) not in refused_events]
    rejected: list[TaskEvent | None] = [t for e, t in good if id(e) in refused_events]
    observe_audit_batch(
        audited=audited, dead_lettered=[*rejected, *[None] * bad_count], seconds=time.monotonic() - started
    )
