"""Webhook work the worker does: queue a batch's deliveries, and send whatever is due.

Delivery is at least once with the event id as `webhook-id` on every attempt. After a failed attempt
(5xx, 408, 429, a timeout or a connection error) the next waits RETRY_SCHEDULE, about a day in all;
any other answer is final for that delivery. Deliveries to one endpoint go one at a time in queue
order, so a user's events arrive in the order they happened.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
from sqlalchemy.orm import Session, sessionmaker

from shared.events import TaskEvent
from shared.settings import Settings
from streams.webhooks import signing, store
from streams.webhooks.client import Outcome, post

# Waits after the 1st, 2nd, ... failed attempt (the Standard Webhooks recommendation, ~27 h in all).
RETRY_SCHEDULE = tuple(
    timedelta(seconds=s) for s in (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
)
LEASE = timedelta(minutes=2)
ROUND_SIZE = 32
SENDERS = 8


def enqueue_deliveries(*, sessions: sessionmaker[Session], events: Sequence[TaskEvent]) -> int:
    """Queue deliveries for a batch of audited events (idempotent: a redelivered batch queues nothing new)."""
    with sessions.begin() as session:
        return store.enqueue(session, events)


def retry_delay(attempts: int, outcome: Outcome) -> timedelta | None:
    """How long until the next attempt, or None when this delivery is over."""
    if not outcome.retryable or attempts > len(RETRY_SCHEDULE):
        return None
    return RETRY_SCHEDULE[attempts - 1]


def send(*, client: httpx.Client, due: store.Due, settings: Settings) -> Outcome:
    """Sign and POST one delivery."""
    body = json.dumps(due.payload, separators=(",", ":"), ensure_ascii=False).encode()
    headers = signing.headers(
        secret=due.secret, message_id=due.event_id, timestamp=int(time.time()), body=body
    )
    return post(client=client, url=due.url, body=body, headers=headers, settings=settings)


def settle(*, sessions: sessionmaker[Session], due: store.Due, outcome: Outcome, settings: Settings) -> None:
    """Record one attempt's outcome."""
    with sessions.begin() as session:
        if outcome.delivered:
            store.record_success(session, due, outcome.status)
            return
        store.record_failure(
            session,
            due,
            status=outcome.status,
            error=outcome.error or "failed",
            retry_in=retry_delay(due.attempts, outcome),
            disable_after=timedelta(hours=settings.webhook_disable_after_hours),
        )


def deliver_due(*, sessions: sessionmaker[Session], client: httpx.Client, settings: Settings) -> int:
    """Send every delivery that is due now (one per endpoint per round); returns how many were tried."""
    with sessions.begin() as session:
        batch = store.lease_due(session, limit=ROUND_SIZE, lease=LEASE)
    if not batch:
        return 0

    def attempt(due: store.Due) -> None:
        settle(
            sessions=sessions,
            due=due,
            outcome=send(client=client, due=due, settings=settings),
            settings=settings,
        )

    with ThreadPoolExecutor(max_workers=min(SENDERS, len(batch)), thread_name_prefix="webhook") as pool:
        list(pool.map(attempt, batch))
    return len(batch)


def new_client(settings: Settings) -> httpx.Client:
    """The worker's one webhook HTTP client: short timeout, no redirects, no proxies from the environment."""
    return httpx.Client(timeout=settings.webhook_timeout_seconds, follow_redirects=False, trust_env=False)
