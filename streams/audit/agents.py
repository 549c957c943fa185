"""The audit agent: task events to audit_log in batches, then handed on; offsets only after all of it."""

from __future__ import annotations

from typing import cast

from faust import Stream, StreamT

from streams.app import app, settings
from streams.audit.service import audit_batch
from streams.counts import forward_counts
from streams.holding import hold, release
from streams.notifications.forwarding import forward_completions
from streams.topics import task_events
from streams.webhooks.agents import queue_webhooks


@app.agent(task_events)
async def audit(stream: StreamT) -> None:
    """Write each batch to audit_log (idempotently), hand on counts, completions and webhooks, then ack it."""
    size, within = settings.audit_batch_size, settings.audit_batch_within_seconds
    async for batch in cast(Stream, stream).take_events(size, within=within):
        hold(batch)
        audited = await audit_batch(batch, settings=settings)
        await forward_counts(audited)
        await forward_completions(audited)
        await queue_webhooks([task_event for _, task_event in audited], settings=settings)
        release(batch)
