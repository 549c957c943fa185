"""The webhook sender: every worker sends what is due each WEBHOOK_POLL_SECONDS (leases keep it once).

Deliveries are queued by the audit agent in the same pass that audits a batch (`queue_webhooks`), so
webhooks add no consumer of task-events, and a slow or failing endpoint never holds up the audit
trail or mail: sending happens here, off the stream, from the queue in PostgreSQL.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from functools import lru_cache

import httpx

from shared.events import TaskEvent
from shared.settings import Settings
from streams.app import app, settings
from streams.database import worker_sessions
from streams.retry import retry_transient
from streams.webhooks.service import deliver_due, enqueue_deliveries, new_client

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def _client() -> httpx.Client:
    """The worker's one webhook client, made on first use."""
    return new_client(settings)


async def queue_webhooks(events: Sequence[TaskEvent], *, settings: Settings) -> None:
    """Queue the deliveries a batch of audited events owes (called by the audit agent)."""
    if events:
        # Retried like the audit insert: raising here crashed the agent after its batch was audited.
        await retry_transient(
            lambda: asyncio.to_thread(enqueue_deliveries, sessions=worker_sessions(settings), events=events),
            what="webhook queueing",
            max_backoff=settings.retry_max_backoff_seconds,
        )


@app.timer(interval=settings.webhook_poll_seconds)
async def send_webhooks() -> None:
    """Send the deliveries that are due; a failure (the database down) only delays them to the next round."""
    sessions = worker_sessions(settings)
    try:
        while await asyncio.to_thread(deliver_due, sessions=sessions, client=_client(), settings=settings):
            pass
    except Exception as exc:  # a timer that raised would stop sending for good; leases expire and retry
        log.warning("webhook round failed, retrying next round: %s: %s", type(exc).__name__, exc)
