"""The Kafka publisher against a real Kafka-protocol broker (Tansu)."""

from __future__ import annotations

import asyncio
import re
import time

from devstack.kafka import free_port
from shared.events import new_event
from shared.settings import Settings
from tests.fixtures.kafka import Topics
from tests.web.outbox.conftest import consume, relay_settings
from web.outbox.publishers.base import Outgoing, Refused
from web.outbox.publishers.kafka import KafkaPublisher, producer_options

TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-01$")
RFC3339_SECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def _outgoing(row_id: int, user_id: str, title: str) -> Outgoing:
    """A valid event wrapped as the relay would hand it over."""
    event = new_event(
        event_type="created", user_id=user_id, task_id=row_id, title=title, description="d", completed=False
    )
    return Outgoing(row_id=row_id, user_id=user_id, event=event.to_dict())


def test_consumes_back_the_exact_envelope_key_and_event(
    settings: Settings, kafka_bootstrap: str, kafka_topics: Topics
) -> None:
    """Each record is keyed by user_id and holds Dapr's envelope around the unchanged event."""
    config = relay_settings(settings, kafka_bootstrap, kafka_topics)
    batch = [_outgoing(1, "user-a", "one"), _outgoing(2, "user-b", "two"), _outgoing(3, "user-a", "três <&>")]
    publisher = KafkaPublisher(settings=config)
    try:
        assert publisher.publish(batch) == [None, None, None]
    finally:
        publisher.close()
    records = consume(kafka_bootstrap, kafka_topics.events, expect=3)
    by_id = {r.envelope["id"]: r for r in records}
    assert len(records) == 3
    for item in batch:
        record = by_id[item.event["event_id"]]
        assert record.key == item.user_id
        envelope = record.envelope
        assert set(envelope) == {
            "id", "specversion", "datacontenttype", "source", "type", "topic", "pubsubname",
            "traceid", "traceparent", "tracestate", "data", "time",
        }  # fmt: skip
        assert envelope["specversion"] == "1.0"
        assert envelope["type"] == "com.dapr.event.sent"
        assert envelope["datacontenttype"] == "application/json"
        assert envelope["source"] == config.dapr_app_id
        assert envelope["topic"] == kafka_topics.events
        assert envelope["pubsubname"] == config.pubsub_name
        assert TRACEPARENT.match(envelope["traceparent"])
        assert envelope["traceid"] == envelope["traceparent"]
        assert envelope["tracestate"] == ""
        assert RFC3339_SECONDS.match(envelope["time"])
        assert envelope["data"] == item.event
    a_records = sorted((r for r in records if r.key == "user-a"), key=lambda r: r.offset)
    assert [r.event["task_id"] for r in a_records] == [1, 3]
    assert len({r.partition for r in a_records}) == 1


def test_unreachable_broker_fails_every_event_without_raising(
    settings: Settings, kafka_topics: Topics
) -> None:
    """Nothing listening: each event reports why, promptly, and the publisher stays usable."""
    config = relay_settings(settings, f"127.0.0.1:{free_port()}", kafka_topics, kafka_timeout_seconds=1.0)
    publisher = KafkaPublisher(settings=config)
    started = time.monotonic()
    try:
        results = publisher.publish([_outgoing(1, "u", "a"), _outgoing(2, "u", "b")])
    finally:
        publisher.close()
    assert all(result and "broker unavailable" in result for result in results)
    assert time.monotonic() - started < 10


def test_producer_options_follow_the_settings(settings: Settings, kafka_topics: Topics) -> None:
    """acks=all always; idempotence on for production, off for Tansu; SASL passed through."""
    dev = producer_options(relay_settings(settings, "b:9092", kafka_topics))
    assert dev["acks"] == "all"
    assert dev["enable_idempotence"] is False
    prod = producer_options(
        relay_settings(
            settings, "b:9092", kafka_topics, app_env="production", kafka_security_protocol="SASL_PLAINTEXT",
            kafka_sasl_mechanism="PLAIN", kafka_sasl_username="u", kafka_sasl_password="p",
        )
    )  # fmt: skip
    assert prod["enable_idempotence"] is True
    assert (prod["sasl_mechanism"], prod["sasl_plain_username"], prod["sasl_plain_password"]) == (
        "PLAIN",
        "u",
        "p",
    )


class _AckingProducer:
    """A stand-in AIOKafkaProducer: acks each send at once, or never (`hang`); notes the loop's first turn."""

    def __init__(self, *, hang: bool = False) -> None:
        self.hang = hang
        self.sent: list[bytes] = []
        self.sent_before_the_loop_turned: int | None = None

    async def send(self, topic: str, *, value: bytes, key: bytes) -> asyncio.Future[None]:
        """Queue the record; the first send asks the loop to note how many were queued when it next turns."""
        loop = asyncio.get_running_loop()
        if not self.sent:
            loop.call_soon(lambda: setattr(self, "sent_before_the_loop_turned", len(self.sent)))
        if self.hang:
            await asyncio.sleep(30)
        self.sent.append(key)
        ack: asyncio.Future[None] = loop.create_future()
        ack.set_result(None)
        return ack

    async def stop(self) -> None:
        """Nothing to flush."""


def _with_producer(config: Settings, producer: _AckingProducer) -> KafkaPublisher:
    """A publisher whose producer is already `producer` (no broker needed)."""
    publisher = KafkaPublisher(settings=config)
    publisher._producer = producer  # type: ignore[assignment]
    return publisher


def test_a_batch_is_handed_to_the_producer_in_one_go(settings: Settings, kafka_topics: Topics) -> None:
    """Every send of a batch is queued before the loop runs anything else, so records share requests.

    Wrapping each send in a task of its own (asyncio.wait_for) let the producer's sender flush after
    every record: one produce request per event.
    """
    producer = _AckingProducer()
    publisher = _with_producer(relay_settings(settings, "b:9092", kafka_topics), producer)
    batch = [_outgoing(n, f"user-{n % 3}", f"t{n}") for n in range(1, 21)]
    try:
        assert publisher.publish(batch) == [None] * 20
    finally:
        publisher.close()
    assert producer.sent == [item.user_id.encode() for item in batch]
    assert producer.sent_before_the_loop_turned == 20


def test_a_send_that_never_returns_times_out_as_unreachable(settings: Settings, kafka_topics: Topics) -> None:
    """A send stuck past KAFKA_TIMEOUT_SECONDS fails the batch as a broker problem, promptly."""
    config = relay_settings(settings, "b:9092", kafka_topics, kafka_timeout_seconds=0.2)
    publisher = _with_producer(config, _AckingProducer(hang=True))
    started = time.monotonic()
    try:
        results = publisher.publish([_outgoing(1, "u", "a"), _outgoing(2, "v", "b")])
    finally:
        publisher.close()
    assert all(result and result.startswith("send failed: TimeoutError") for result in results)
    assert not any(isinstance(result, Refused) for result in results)
    assert time.monotonic() - started < 5
