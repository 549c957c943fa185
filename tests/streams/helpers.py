"""Helpers for the worker tests: a real producer, event encodings, DLQ reading (workers: tests/fixtures)."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from shared.events import TaskEvent

Record = tuple[bytes | None, bytes, list[tuple[str, bytes]]]


def cloudevent(event: TaskEvent, topic: str, *, base64_data: bool = False) -> bytes:
    """The event wrapped as Dapr's pubsub.kafka writes it (structured CloudEvents 1.0 JSON)."""
    envelope: dict[str, Any] = {
        "specversion": "1.0",
        "id": str(event.event_id),
        "source": "web",
        "type": "com.dapr.event.sent",
        "datacontenttype": "application/json",
        "topic": topic,
        "pubsubname": "kafka-pubsub",
        "time": "2026-01-01T00:00:00Z",
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    }
    if base64_data:
        envelope["data_base64"] = base64.b64encode(event.to_json().encode()).decode()
    else:
        envelope["data"] = event.to_dict()
    return json.dumps(envelope).encode()


def bare(event: TaskEvent) -> bytes:
    """The event as a bare JSON object."""
    return event.to_json().encode()


async def _produce(bootstrap: str, topic: str, records: Sequence[Record]) -> None:
    """Send records in order and wait until the broker has all of them."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=4 * 1024 * 1024)
    await producer.start()
    try:
        for key, value, headers in records:
            await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


def produce(bootstrap: str, topic: str, records: Sequence[Record]) -> None:
    """Synchronous _produce."""
    asyncio.run(_produce(bootstrap, topic, records))


PlacedRecord = tuple[int, bytes | None, bytes | None, list[tuple[str, bytes]]]


async def _produce_to(bootstrap: str, topic: str, records: Sequence[PlacedRecord]) -> list[tuple[int, int]]:
    """Send (partition, key, value, headers) records; returns each one's (partition, offset)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=4 * 1024 * 1024)
    await producer.start()
    try:
        sent = [
            await producer.send_and_wait(topic, value, key=key, headers=headers, partition=partition)
            for partition, key, value, headers in records
        ]
    finally:
        await producer.stop()
    return [(meta.partition, meta.offset) for meta in sent]


def produce_to(bootstrap: str, topic: str, records: Sequence[PlacedRecord]) -> list[tuple[int, int]]:
    """Synchronous _produce_to."""
    return asyncio.run(_produce_to(bootstrap, topic, records))


def keyed(event: TaskEvent, value: bytes) -> Record:
    """A record keyed by the event's user_id, as the web side publishes it."""
    return event.user_id.encode(), value, []


async def _read(bootstrap: str, topic: str, count: int, timeout: float) -> list[ConsumerRecord]:
    """Read up to `count` records from the start of a topic."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    records: list[ConsumerRecord] = []
    try:
        deadline = time.monotonic() + timeout
        while len(records) < count and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for partition_records in batch.values():
                records.extend(partition_records)
    finally:
        await consumer.stop()
    return records


def read_topic(bootstrap: str, topic: str, count: int, timeout: float = 20.0) -> list[ConsumerRecord]:
    """Synchronous _read."""
    return asyncio.run(_read(bootstrap, topic, count, timeout))


def counts_message(value: Any, *, partition: int, offset: int = 0) -> Any:
    """A counts-topic message as Faust hands it to an agent (a faust Event), for a take without a broker."""
    from streams.counts import counts_by_user  # see agent_event

    return agent_event(counts_by_user.get_topic_name(), value, partition=partition, offset=offset)


def agent_event(
    topic: str, value: Any, *, partition: int = 0, offset: int = 0, key: bytes | None = None
) -> Any:
    """A message of `topic` as Faust hands it to an agent (a faust Event), for agent code without a broker."""
    # Imported here: importing the app builds it from the environment, which most users of this module
    # (tests running real worker processes) must not do.
    from faust import Event
    from faust.types import Message

    from streams.app import app

    raw = value if isinstance(value, bytes) else None
    message = Message(topic, partition, offset, 0.0, 0, [], key, raw, None)
    return Event(app, key, value, None, message)


def queued_table_records(table: Any) -> list[tuple[bytes, int]]:
    """The (key, partition) of each record the producer buffer holds for this table (taken from it)."""
    from streams.app import app

    pending, changelog = app.producer.buffer.pending, table.changelog_topic.get_topic_name()
    records = []
    while not pending.empty():
        message = pending.get_nowait().message
        if message.channel.get_topic_name() == changelog:
            records.append((message.key, message.partition))
    return records
