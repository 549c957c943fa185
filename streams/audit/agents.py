"""The audit agent: task events to audit_log in batches, offsets committed only after the rows."""

from __future__ import annotations

from typing import cast

from faust import Stream, StreamT

from streams.app import app, settings
from streams.audit.service import audit_batch
from streams.holding import hold, release
from streams.topics import task_events


@app.agent(task_events)
async def audit(stream: StreamT) -> None:
    """Write each batch to audit_log (idempotently) and let its offsets advance only afterwards."""
    size, within = settings.audit_batch_size, settings.audit_batch_within_seconds
    async for batch in cast(Stream, stream).take_events(size, within=within):
        hold(batch)
        await audit_batch(batch, settings=settings)
        release(batch)
