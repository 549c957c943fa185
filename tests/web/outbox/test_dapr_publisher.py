"""The Dapr publisher against a stand-in sidecar built from the SDK's generated DaprServicer."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterator

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from shared.settings import Settings
from tests.conftest import AuthActions
from tests.web.outbox.conftest import outbox_order, pending_count, wait_until_published
from tests.web.outbox.sidecar import StandInSidecar
from web.outbox.publishers import make_publisher
from web.outbox.publishers.base import Outgoing
from web.outbox.publishers.dapr import DaprPublisher
from web.outbox.relay import Relay


@pytest.fixture
def sidecar() -> Iterator[StandInSidecar]:
    """A running stand-in sidecar."""
    standin = StandInSidecar().start()
    yield standin
    standin.stop()


def _dapr_settings(settings: Settings, sidecar: StandInSidecar) -> Settings:
    """Settings as a Dapr sidecar would leave them: its ports announced, the publisher left to choose."""
    return dataclasses.replace(
        settings,
        event_publisher="",
        dapr_grpc_port=str(sidecar.grpc_port),
        dapr_http_port=str(sidecar.http_port),
        dapr_timeout_seconds=1.0,
        relay_poll_seconds=0.3,
        retry_max_backoff_seconds=0.5,
    )


def test_publishes_with_the_specified_call(settings: Settings, sidecar: StandInSidecar, engine: Engine,
                                           start_relay: Callable[..., Relay], client: FlaskClient,
                                           auth: AuthActions) -> None:  # fmt: skip
    """Pubsub name, topic, content type, partitionKey and the event JSON, as specified."""
    config = _dapr_settings(settings, sidecar)
    assert isinstance(make_publisher(config), DaprPublisher)
    start_relay(config)
    user = auth.register()
    created = client.post(f"/api/{user.user_id}/tasks", json={"title": "via dapr"}, headers=user.headers)
    assert created.status_code == 201
    wait_until_published(engine, timeout=10)
    (call,) = sidecar.published
    assert call.pubsub_name == "kafka-pubsub"
    assert call.topic == "task-events"
    assert call.data_content_type == "application/json"
    assert call.metadata == {"partitionKey": user.user_id}
    event = json.loads(call.data)
    assert event["event_id"] == outbox_order(engine)[user.user_id][0]
    assert (event["event_type"], event["user_id"], event["task_data"]["title"]) == (
        "created",
        user.user_id,
        "via dapr",
    )


def test_sidecar_down_events_wait_and_go_out_when_it_returns(
    settings: Settings, sidecar: StandInSidecar, engine: Engine, start_relay: Callable[..., Relay],
    client: FlaskClient, auth: AuthActions,
) -> None:  # fmt: skip
    """While the sidecar is away requests succeed and events wait; then all go out, in order."""
    config = _dapr_settings(settings, sidecar)
    start_relay(config)
    user = auth.register()
    client.post(f"/api/{user.user_id}/tasks", json={"title": "before"}, headers=user.headers)
    wait_until_published(engine, timeout=10)
    sidecar.stop()
    for n in range(5):
        response = client.post(
            f"/api/{user.user_id}/tasks", json={"title": f"away {n}"}, headers=user.headers
        )
        assert response.status_code == 201
    time.sleep(1.5)
    assert pending_count(engine) == 5
    sidecar.start()
    wait_until_published(engine, timeout=15)
    titles = [json.loads(call.data)["task_data"]["title"] for call in sidecar.published]
    assert titles == ["before"] + [f"away {n}" for n in range(5)]


def test_no_sidecar_at_start_is_waited_for_without_blocking(settings: Settings, engine: Engine) -> None:
    """Before the sidecar is up a publish fails fast (the relay retries); it never hangs a caller."""
    standin = StandInSidecar.not_yet_up()
    publisher = DaprPublisher(settings=_dapr_settings(settings, standin))
    started = time.monotonic()
    assert publisher.publish([Outgoing(1, "u", {"event_id": "x"})]) == ["dapr sidecar not ready"]
    assert time.monotonic() - started < 2
    standin.start()
    try:
        assert publisher.publish([Outgoing(1, "u", {"event_id": "x"})]) == [None]
    finally:
        publisher.close()
        standin.stop()
