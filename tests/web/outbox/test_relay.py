"""The relay on real parts: PostgreSQL, Tansu, the Flask app (a web process killed: tests/faults/)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, text
from sqlalchemy.pool import NullPool

from shared.db import make_engine, make_sessionmaker
from shared.events import new_event
from shared.settings import Settings
from tests.conftest import AuthActions
from tests.web.outbox.conftest import (
    consume,
    outbox_order,
    pending_count,
    per_user_order,
    wait_until_published,
)
from web.outbox import relay as relay_module
from web.outbox.publishers import make_publisher
from web.outbox.publishers.base import Outgoing
from web.outbox.relay import Relay, settle
from web.outbox.store import commit_with_events


def _wait_leading(relay: Relay, timeout: float = 10.0) -> None:
    """Block until the relay holds the lock."""
    deadline = time.monotonic() + timeout
    while not relay.leading:
        assert time.monotonic() < deadline, "relay never took the lock"
        time.sleep(0.02)


def test_settle_marks_only_each_users_acked_prefix() -> None:
    """After a user's failure nothing later of theirs counts as published; other users go on."""
    batch = [Outgoing(i, user, {}) for i, user in enumerate(["a", "b", "a", "b", "a"], start=1)]
    acked, failed = settle(batch, [None, "boom", None, None, "late"])
    assert acked == [1, 3]
    assert failed == {2: "boom", 5: "late"}


def test_a_commit_wakes_the_relay_at_once(
    kafka_settings: Settings,
    start_relay: Callable[..., Relay],
    engine: Engine,
    client: FlaskClient,
    auth: AuthActions,
) -> None:
    """HTTP commit -> broker ack well under the poll interval: the NOTIFY path, not polling."""
    relay = start_relay(kafka_settings.__class__(**{**kafka_settings.__dict__, "relay_poll_seconds": 5.0}))
    _wait_leading(relay)
    user = auth.register()
    wait_until_published(engine)
    latencies = []
    for n in range(20):
        created = client.post(f"/api/{user.user_id}/tasks", json={"title": f"t{n}"}, headers=user.headers)
        answered = time.monotonic()
        assert created.status_code == 201
        while pending_count(engine):
            time.sleep(0.002)
        latencies.append(time.monotonic() - answered)
    median, worst = statistics.median(latencies) * 1000, max(latencies) * 1000
    print(f"\ncommit->published: median {median:.1f} ms, max {worst:.1f} ms")
    assert max(latencies) < 2.5
    records = consume(kafka_settings.kafka_bootstrap_servers, kafka_settings.task_events_topic, expect=20)
    assert [r.event["task_data"]["title"] for r in sorted(records, key=lambda r: r.offset)] == [
        f"t{n}" for n in range(20)
    ]


def test_commits_during_a_round_wake_the_relay_once_not_once_each(
    kafka_settings: Settings, engine: Engine, auth: AuthActions
) -> None:
    """Twenty commits queue twenty NOTIFYs; one round publishes them all and leaves no wake-up behind."""
    settings = kafka_settings.__class__(**{**kafka_settings.__dict__, "relay_poll_seconds": 0.3})
    relay_engine = make_engine(settings, poolclass=NullPool)
    relay = Relay(engine=relay_engine, publisher=make_publisher(settings), settings=settings)
    user_id = auth.register().user_id
    sessions = make_sessionmaker(engine)
    deadline = time.monotonic() + 20  # generous: the machine running this may be busy
    try:
        while not relay.leading and time.monotonic() < deadline:
            relay.step()
        assert relay.leading
        for n in range(20):
            with sessions() as session:
                event = new_event(event_type="created", user_id=user_id, task_id=n, title=f"t{n}",
                                  description="", completed=False)  # fmt: skip
                commit_with_events(session=session, events=[event])
        # A NOTIFY reaches the listening connection after the commit returns, when its backend gets
        # to it: on a busy machine the last ones may still be on their way when the round starts.
        time.sleep(0.2)
        relay._wait(5.0)  # the queued NOTIFYs end the wait at once
        relay.step()
        while pending_count(engine) and time.monotonic() < deadline:  # a publish timed out: retry
            relay.step()
        assert pending_count(engine) == 0
        started = time.monotonic()
        relay._wait(settings.relay_poll_seconds)
        assert time.monotonic() - started >= 0.25, "a wake-up for an already published commit was left queued"
    finally:
        relay.stop()
        relay._resign()
        relay.publisher.close()
        relay_engine.dispose()


def test_a_commit_starts_a_round_no_sooner_than_the_interval_after_the_last_one(
    kafka_settings: Settings, engine: Engine, auth: AuthActions, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Right after a round a commit's wake-up waits out the interval; after a quiet spell it does not."""
    monkeypatch.setattr(relay_module, "MIN_ROUND_INTERVAL_SECONDS", 2.0)  # long, so the bounds are robust
    relay_engine = make_engine(kafka_settings, poolclass=NullPool)
    relay = Relay(engine=relay_engine, publisher=make_publisher(kafka_settings), settings=kafka_settings)
    user_id = auth.register().user_id
    sessions = make_sessionmaker(engine)

    def commit(n: int) -> None:
        with sessions() as session:
            event = new_event(event_type="created", user_id=user_id, task_id=n, title=f"t{n}",
                              description="", completed=False)  # fmt: skip
            commit_with_events(session=session, events=[event])

    deadline = time.monotonic() + 20
    try:
        while not relay.leading and time.monotonic() < deadline:
            relay.step()
        relay.step()
        commit(1)
        relay._wait(10.0)
        assert time.monotonic() - relay._round_started >= 2.0, "a round began inside the interval"
        relay.step()
        relay._round_started -= 10.0  # the last round began long ago
        commit(2)
        woken = time.monotonic()
        relay._wait(10.0)
        assert time.monotonic() - woken < 1.5, "a commit after a quiet spell waited for nothing"
    finally:
        relay.stop()
        relay._resign()
        relay.publisher.close()
        relay_engine.dispose()


@pytest.mark.slow
def test_two_relays_at_once_never_publish_a_row_twice(
    kafka_settings: Settings, start_relay: Callable[..., Relay], engine: Engine
) -> None:
    """Two relays over one outbox, the leader stopped half way: every event once, in per-user order."""
    factory = make_sessionmaker(engine)
    users = [f"user-{n}" for n in range(6)]
    for round_ in range(30):
        events = [
            new_event(
                event_type="updated",
                user_id=user,
                task_id=round_,
                title=f"r{round_}",
                description="",
                completed=False,
            )
            for user in users
            for _ in range(2)
        ]
        with factory() as session:
            commit_with_events(session=session, events=events)
    config = kafka_settings.__class__(**{**kafka_settings.__dict__, "relay_batch_size": 25})
    first, second = start_relay(config, "relay-a"), start_relay(config, "relay-b")
    deadline = time.monotonic() + 30
    while pending_count(engine) > 200 and time.monotonic() < deadline:
        time.sleep(0.01)
    leader = first if first.leading else second
    assert not (first.leading and second.leading)
    leader.stop()
    wait_until_published(engine)
    records = consume(config.kafka_bootstrap_servers, config.task_events_topic, expect=360)
    ids = [r.event["event_id"] for r in records]
    assert len(ids) == 360
    assert len(set(ids)) == 360
    assert per_user_order(records) == outbox_order(engine)
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT max(attempts) FROM outbox")) == 1
