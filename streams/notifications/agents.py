"""The notifications agent: a completion email for each completed task, at most once per event."""

from __future__ import annotations

from typing import cast

from faust import Stream, StreamT

from streams.app import app, settings
from streams.holding import hold, release
from streams.notifications.service import notify_batch
from streams.topics import completions


@app.agent(completions)
async def notifications(stream: StreamT) -> None:
    """Mail task owners on completion; a batch's offsets advance only once each of its mails is settled."""
    size, within = settings.audit_batch_size, settings.audit_batch_within_seconds
    async for batch in cast(Stream, stream).take_events(size, within=within):
        hold(batch)
        await notify_batch(batch, settings=settings)
        release(batch)
