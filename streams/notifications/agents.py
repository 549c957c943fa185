"""The notifications agent: a completion email for each completed task, at most once per event."""

from __future__ import annotations

from typing import cast

from faust import Stream, StreamT

from streams.app import app, settings
from streams.notifications.service import notify
from streams.topics import task_events


@app.agent(task_events)
async def notifications(stream: StreamT) -> None:
    """Mail task owners on completion; an event is acked only once its mail is settled."""
    manual = cast(Stream, stream).noack()
    async for event in manual.events():
        await notify(event, settings=settings)
        await manual.ack(event)
