"""Webhook delivery on real PostgreSQL to a real loopback endpoint, checked with standardwebhooks."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import Engine, select, text, update
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks.webhooks import Webhook

from shared.db import make_sessionmaker
from shared.events import TaskEvent
from shared.models import WebhookDelivery, WebhookEndpoint
from shared.settings import Settings
from streams.database import worker_sessions
from streams.webhooks.agents import queue_webhooks
from streams.webhooks.service import RETRY_SCHEDULE, deliver_due, enqueue_deliveries, new_client
from tests.fixtures.netfault import TcpGate, postgres_target, through_gate
from tests.fixtures.webhooks import Receiver
from tests.streams.conftest import add_user
from tests.web.audit.factories import make_event


@pytest.fixture
def hook_settings(settings: Settings) -> Settings:
    """Settings that let webhooks reach the loopback receiver, with a short timeout."""
    return dataclasses.replace(settings, webhook_allow_loopback=True, webhook_timeout_seconds=1.0)


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    """Plain sessions, as the worker has."""
    return make_sessionmaker(engine)


@pytest.fixture
def client(hook_settings: Settings) -> Iterator[httpx.Client]:
    """The worker's webhook client."""
    with new_client(hook_settings) as made:
        yield made


def endpoint(
    engine: Engine, user_id: str, url: str, kinds: tuple[str, ...] = ("created", "completed")
) -> int:
    """Register an endpoint straight in the database; returns its id."""
    with Session(engine) as session, session.begin():
        row = WebhookEndpoint(user_id=user_id, url=url, event_types=list(kinds), secret=SECRET)
        session.add(row)
        session.flush()
        return row.id


SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def deliveries(engine: Engine) -> list[WebhookDelivery]:
    """Every delivery, in queue order."""
    with Session(engine) as session:
        return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def make_due_now(engine: Engine) -> None:
    """Let time pass: every pending delivery's next attempt is now."""
    with engine.begin() as conn:
        conn.execute(update(WebhookDelivery).values(next_attempt_at=text("now()")))


def run(sessions: sessionmaker[Session], client: httpx.Client, settings: Settings) -> int:
    """One sending round, as the worker's timer runs it."""
    return deliver_due(sessions=sessions, client=client, settings=settings)


def events_for(user_id: str, *kinds: str) -> list[TaskEvent]:
    """Events of one user, one task each."""
    return [make_event(user_id=user_id, task_id=i + 1, event_type=kind) for i, kind in enumerate(kinds)]


def one_queued(engine: Engine, sessions: sessionmaker[Session], *, email: str, url: str) -> tuple[str, int]:
    """A user with one endpoint at `url` and one `created` event queued for it; returns both ids."""
    user = add_user(engine, email=email)
    hook = endpoint(engine, user, url)
    enqueue_deliveries(sessions=sessions, events=events_for(user, "created"))
    return user, hook


def test_chosen_events_are_delivered_signed_and_verifiable(
    engine: Engine,
    sessions: sessionmaker[Session],
    client: httpx.Client,
    hook_settings: Settings,
    receiver: Receiver,
) -> None:
    user = add_user(engine, email="hooks@example.com")
    endpoint(engine, user, f"{receiver.url}/hook")
    events = events_for(user, "created", "updated", "completed")

    assert enqueue_deliveries(sessions=sessions, events=events) == 2
    assert enqueue_deliveries(sessions=sessions, events=events) == 0, "a redelivered batch queues nothing new"
    while run(sessions, client, hook_settings):
        pass

    assert [r.path for r in receiver.requests] == ["/hook", "/hook"]
    verifier = Webhook(SECRET)
    for request, event in zip(receiver.requests, (events[0], events[2]), strict=True):
        assert request.headers["webhook-id"] == str(event.event_id)
        assert verifier.verify(request.body, request.headers) == json.loads(event.to_json())
    assert [d.status for d in deliveries(engine)] == ["delivered", "delivered"]


def test_a_5xx_is_retried_with_the_same_id_and_holds_later_events_back(
    engine: Engine,
    sessions: sessionmaker[Session],
    client: httpx.Client,
    hook_settings: Settings,
    receiver: Receiver,
) -> None:
    user = add_user(engine, email="retry@example.com")
    endpoint(engine, user, receiver.url)
    first, second = events_for(user, "created", "created")
    enqueue_deliveries(sessions=sessions, events=[first, second])
    receiver.answers = [503]

    assert run(sessions, client, hook_settings) == 1
    pending = deliveries(engine)
    assert [(d.status, d.attempts, d.last_status) for d in pending] == [
        ("pending", 1, 503),
        ("pending", 0, None),
    ]
    assert run(sessions, client, hook_settings) == 0, (
        "the retry waits its backoff; the next event waits behind it"
    )
    with engine.connect() as conn:
        wait = conn.scalar(
            text("SELECT min(next_attempt_at) - now() FROM webhook_deliveries WHERE attempts = 1")
        )
    assert timedelta(0) < wait <= RETRY_SCHEDULE[0]

    make_due_now(engine)
    while run(sessions, client, hook_settings):
        pass
    ids = [r.headers["webhook-id"] for r in receiver.requests]
    assert ids == [str(first.event_id), str(first.event_id), str(second.event_id)]
    assert [d.status for d in deliveries(engine)] == ["delivered", "delivered"]


@pytest.mark.parametrize(
    ("answer", "final"), [(400, True), (410, True), (302, True), (408, False), (429, False)]
)
def test_which_answers_end_a_delivery(
    engine: Engine,
    sessions: sessionmaker[Session],
    client: httpx.Client,
    hook_settings: Settings,
    receiver: Receiver,
    answer: int,
    final: bool,
) -> None:
    one_queued(engine, sessions, email=f"answer{answer}@example.com", url=receiver.url)
    receiver.answers = [answer]

    run(sessions, client, hook_settings)
    [delivery] = deliveries(engine)
    assert (delivery.status, delivery.last_status) == ("failed" if final else "pending", answer)
    assert [r.path for r in receiver.requests] == ["/"], "redirects are never followed"


def test_a_timeout_is_retried(
    engine: Engine,
    sessions: sessionmaker[Session],
    client: httpx.Client,
    hook_settings: Settings,
    receiver: Receiver,
) -> None:
    one_queued(engine, sessions, email="slow@example.com", url=receiver.url)
    receiver.delay = 2.0

    run(sessions, client, hook_settings)
    [delivery] = deliveries(engine)
    assert (delivery.status, delivery.last_error) == ("pending", "timed out")


def test_the_last_attempt_fails_for_good_and_a_day_of_failures_disables_the_endpoint(
    engine: Engine,
    sessions: sessionmaker[Session],
    client: httpx.Client,
    hook_settings: Settings,
    receiver: Receiver,
) -> None:
    user, hook = one_queued(engine, sessions, email="dead@example.com", url=receiver.url)
    receiver.answers = [500] * (len(RETRY_SCHEDULE) + 1)
    for _ in range(len(RETRY_SCHEDULE) + 1):
        make_due_now(engine)
        assert run(sessions, client, hook_settings) == 1
    [delivery] = deliveries(engine)
    assert (delivery.status, delivery.attempts) == ("failed", len(RETRY_SCHEDULE) + 1)

    with engine.begin() as conn:
        conn.execute(update(WebhookEndpoint).values(failing_since=text("now() - interval '25 hours'")))
    enqueue_deliveries(sessions=sessions, events=events_for(user, "completed"))
    receiver.answers = [500]
    run(sessions, client, hook_settings)
    with Session(engine) as session:
        disabled = session.get(WebhookEndpoint, hook)
        assert disabled is not None
        assert disabled.disabled_at is not None
        assert "24 hours" in (disabled.disabled_reason or "")
    enqueue_deliveries(sessions=sessions, events=events_for(user, "created"))
    assert len(deliveries(engine)) == 2, "a disabled endpoint is queued nothing more"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://10.1.2.3/hook", "public address"),
        ("http://169.254.169.254/latest/meta-data", "public address"),
        ("http://[::ffff:192.168.1.1]/x", "public address"),
        ("http://localhost:9/hook", "loopback"),
    ],
)
def test_the_platforms_own_networks_are_refused_after_resolution(
    engine: Engine, sessions: sessionmaker[Session], settings: Settings, url: str, reason: str
) -> None:
    strict = dataclasses.replace(settings, webhook_allow_loopback=False, webhook_timeout_seconds=1.0)
    one_queued(engine, sessions, email="ssrf@example.com", url=url)
    with new_client(strict) as client:
        run(sessions, client, strict)
    [delivery] = deliveries(engine)
    assert delivery.status == "failed"
    assert reason in (delivery.last_error or "")


def test_only_the_first_bytes_of_a_huge_answer_are_read(
    engine: Engine,
    sessions: sessionmaker[Session],
    client: httpx.Client,
    hook_settings: Settings,
    receiver: Receiver,
) -> None:
    one_queued(engine, sessions, email="huge@example.com", url=receiver.url)
    receiver.answers, receiver.body_bytes = [200], 200 * 1024 * 1024

    run(sessions, client, hook_settings)
    [delivery] = deliveries(engine)
    assert delivery.status == "delivered"
    # The worker hung up after WEBHOOK_MAX_RESPONSE_BYTES; only socket buffers' worth more went out.
    assert receiver.body_sent < 32 * 1024 * 1024


def test_queueing_waits_out_a_database_outage_instead_of_raising(
    engine: Engine, hook_settings: Settings, receiver: Receiver
) -> None:
    """The audit agent queues a batch's webhooks with the database unreachable: it retries until it is back.

    Raising there crashed the audit agent after the batch was audited, leaving its offsets held.
    """
    user = add_user(engine, email="outage@example.com")
    endpoint(engine, user, receiver.url)
    gate = TcpGate(postgres_target(hook_settings.database_url))
    down = dataclasses.replace(hook_settings, database_url=through_gate(hook_settings.database_url, gate))
    reopen = threading.Timer(1.0, gate.open)
    reopen.start()
    try:
        asyncio.run(asyncio.wait_for(queue_webhooks(events_for(user, "created"), settings=down), timeout=30))
    finally:
        reopen.cancel()
        worker_sessions(down).kw["bind"].dispose()
        gate.close()
    assert [d.status for d in deliveries(engine)] == ["pending"]
