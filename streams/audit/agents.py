"""The audit agent: task events to audit_log in batches, then handed on; offsets only after all of it."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import cast

from faust import Stream, StreamT
from faust.types import EventT

from shared.events import TaskEvent
from streams.app import app, settings
from streams.audit.service import audit_batch
from streams.counts import forward_counts
from streams.deadletter import dead_letter_all
from streams.holding import hold, release
from streams.notifications.forwarding import forward_completions
from streams.retry import describe, retry_transient
from streams.topics import task_events
from streams.webhooks.agents import queue_webhooks

HAND_ON_FAILED = "hand-on-failed"
log = logging.getLogger(__name__)


@app.agent(task_events)
async def audit(stream: StreamT) -> None:
    """Write each batch to audit_log (idempotently), hand on counts, completions and webhooks, then ack it."""
    size, within = settings.audit_batch_size, settings.audit_batch_within_seconds
    async for batch in cast(Stream, stream).take_events(size, within=within):
        hold(batch)
        audited = await audit_batch(batch, settings=settings)
        await hand_on(audited)
        release(batch)


async def hand_on(audited: Sequence[tuple[EventT, TaskEvent]]) -> None:
    """Counts, completions and webhooks for an audited batch; each retried while its dependency is away.

    Every step is idempotent downstream (counts skip what they counted, mail is claimed once per
    event, deliveries are unique per endpoint and event), so a retry repeats nothing. A step that
    fails for any other reason dead-letters the batch (its audit rows stay; a redrive hands it on
    again) rather than crashing the agent with the batch's offsets held.
    """
    backoff = settings.retry_max_backoff_seconds
    steps: list[tuple[str, Callable[[], Awaitable[None]]]] = [
        ("counts forwarding", lambda: forward_counts(audited)),
        ("completions forwarding", lambda: forward_completions(audited)),
        ("webhook queueing", lambda: queue_webhooks([t for _, t in audited], settings=settings)),
    ]
    for what, step in steps:
        try:
            await retry_transient(step, what=what, max_backoff=backoff)
        except Exception as exc:
            log.error("%s failed, dead-lettering %d events: %s", what, len(audited), describe(exc))
            dead = [(event, HAND_ON_FAILED, f"{what}: {describe(exc)}") for event, _ in audited]
            await dead_letter_all(dead, max_backoff=backoff)
            return
