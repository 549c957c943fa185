"""The broker goes away under load: requests still succeed, and every event arrives once, in order."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from devstack.kafka import TansuBroker, create_topics
from shared.settings import Settings
from tests.conftest import ApiUser, AuthActions
from tests.fixtures.kafka import Topics
from tests.web.outbox.conftest import (
    consume,
    outbox_order,
    pending_count,
    per_user_order,
    relay_settings,
    wait_until_published,
)
from web.outbox.relay import Relay

TOPICS = Topics(events="task-events", dlq="task-events-dlq", partitions=6)


@pytest.fixture
def own_broker() -> Iterator[TansuBroker]:
    """A broker only this test stops and starts (on one port, so clients find it again)."""
    broker = TansuBroker().start()
    create_topics(broker.bootstrap_servers, {TOPICS.events: TOPICS.partitions, TOPICS.dlq: 1})
    yield broker
    broker.stop()


def _fifty_operations(client: FlaskClient, users: list[ApiUser]) -> list[float]:
    """30 creates, 15 renames and 5 completions spread over three users; each answer's time in seconds."""
    timings: list[float] = []
    tasks: list[tuple[ApiUser, int]] = []
    for n in range(50):
        started = time.monotonic()
        if n < 30:
            user = users[n % 3]
            response = client.post(
                f"/api/{user.user_id}/tasks", json={"title": f"task {n}"}, headers=user.headers
            )
            assert response.status_code == 201
            tasks.append((user, response.get_json()["id"]))
        elif n < 45:
            user, task_id = tasks[n - 30]
            response = client.put(f"/api/{user.user_id}/tasks/{task_id}", json={"title": f"renamed {n}"},
                                  headers=user.headers)  # fmt: skip
            assert response.status_code == 200
        else:
            user, task_id = tasks[n - 45]
            response = client.patch(f"/api/{user.user_id}/tasks/{task_id}/complete", headers=user.headers)
            assert response.status_code == 200
        timings.append(time.monotonic() - started)
    return timings


@pytest.mark.slow
def test_fifty_operations_during_an_outage_arrive_exactly_once_in_order(
    settings: Settings, own_broker: TansuBroker, engine: Engine, start_relay: Callable[..., Relay],
    client: FlaskClient, auth: AuthActions,
) -> None:  # fmt: skip
    """Broker stopped -> 50 operations succeed -> broker back -> 50 events, once each, per-user order."""
    began = time.monotonic()
    config = relay_settings(settings, own_broker.bootstrap_servers, TOPICS, kafka_timeout_seconds=2.0)
    users = [auth.register() for _ in range(3)]
    start_relay(config)
    own_broker.stop()
    timings = _fifty_operations(client, users)
    assert pending_count(engine) == 50
    own_broker.start()
    restarted = time.monotonic()
    # Tansu keeps topics in memory: a restart forgets them, as a fresh cluster would.
    create_topics(own_broker.bootstrap_servers, {TOPICS.events: TOPICS.partitions, TOPICS.dlq: 1})
    wait_until_published(engine, timeout=60)
    drained = time.monotonic() - restarted
    records = consume(own_broker.bootstrap_servers, TOPICS.events, expect=50)
    ids = [r.event["event_id"] for r in records]
    assert len(ids) == 50 == len(set(ids))
    assert per_user_order(records) == outbox_order(engine)
    print(
        "\noutage: 50 events;"
        f" requests median {statistics.median(timings) * 1000:.1f} ms,"
        f" max {max(timings) * 1000:.1f} ms; drained {drained:.1f}s after restart;"
        f" test {time.monotonic() - began:.1f}s"
    )
