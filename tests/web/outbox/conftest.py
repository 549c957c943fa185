"""Outbox fixtures: relay settings on the test's own topics, and reading a topic back."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from sqlalchemy import Engine, text
from sqlalchemy.pool import NullPool

from shared.db import make_engine
from shared.settings import Settings
from tests.fixtures.kafka import Topics
from web.outbox.publishers import make_publisher
from web.outbox.relay import Relay


@dataclass(frozen=True)
class Record:
    """One message read back from the topic."""

    key: str
    partition: int
    offset: int
    envelope: dict[str, Any]

    @property
    def event(self) -> dict[str, Any]:
        """The task event inside the CloudEvents envelope."""
        data: dict[str, Any] = self.envelope["data"]
        return data


def relay_settings(settings: Settings, bootstrap: str, topics: Topics, **overrides: Any) -> Settings:
    """The test settings pointed at a broker and the test's topics, with fast relay timings."""
    values: dict[str, Any] = {
        "event_publisher": "kafka",
        "kafka_bootstrap_servers": bootstrap,
        "task_events_topic": topics.events,
        "task_events_dlq_topic": topics.dlq,
        "relay_poll_seconds": 0.5,
        "retry_max_backoff_seconds": 1.0,
        "kafka_timeout_seconds": 3.0,
    }
    values.update(overrides)
    return dataclasses.replace(settings, **values)


@pytest.fixture(autouse=True)
def _engine_before_teardown(engine: Engine) -> None:
    """Instantiate `engine` up front: the shared table cleaner may not first request it at teardown."""


@pytest.fixture
def kafka_settings(settings: Settings, kafka_bootstrap: str, kafka_topics: Topics) -> Settings:
    """Settings that publish straight to the session broker, on this test's topics."""
    return relay_settings(settings, kafka_bootstrap, kafka_topics)


@pytest.fixture
def start_relay(engine: Engine) -> Iterator[Callable[..., Relay]]:
    """Start relays (each with its own engine and publisher) and stop them all after the test."""
    relays: list[Relay] = []
    engines: list[Engine] = []

    def start(settings: Settings, name: str = "relay") -> Relay:
        """A running relay for these settings."""
        eng = make_engine(settings, poolclass=NullPool)
        engines.append(eng)
        relay = Relay(engine=eng, publisher=make_publisher(settings), settings=settings, name=name).start()
        relays.append(relay)
        return relay

    yield start
    for relay in relays:
        relay.stop()
    for eng in engines:
        eng.dispose()


def consume(bootstrap: str, topic: str, *, expect: int, timeout: float = 20.0) -> list[Record]:
    """Every record on the topic from the beginning, waiting until `expect` arrived (or timeout)."""

    async def read() -> list[Record]:
        """Read with a group-less consumer over all partitions."""
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
        )
        await consumer.start()
        records: list[Record] = []
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                batches = await consumer.getmany(timeout_ms=300)
                for batch in batches.values():
                    records += [
                        Record(m.key.decode(), m.partition, m.offset, json.loads(m.value))
                        for m in batch  # type: ignore[union-attr, arg-type]
                    ]
                if len(records) >= expect and not batches:
                    break
        finally:
            await consumer.stop()
        return records

    return asyncio.run(read())


def wait_until_published(engine: Engine, *, timeout: float = 30.0) -> None:
    """Block until the outbox has nothing pending."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pending_count(engine) == 0:
            return
        time.sleep(0.05)
    raise AssertionError(f"{pending_count(engine)} events still pending after {timeout}s")


def pending_count(engine: Engine) -> int:
    """How many outbox rows wait."""
    with engine.connect() as conn:
        return int(conn.scalar(text("SELECT count(*) FROM outbox WHERE published_at IS NULL")) or 0)


def outbox_order(engine: Engine) -> dict[str, list[str]]:
    """Each user's event ids in outbox (commit) order."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT user_id, event_id FROM outbox ORDER BY id")).all()
    order: dict[str, list[str]] = {}
    for user_id, event_id in rows:
        order.setdefault(user_id, []).append(str(event_id))
    return order


def per_user_order(records: list[Record]) -> dict[str, list[str]]:
    """Each user's event ids in the order the topic holds them (offset order within a partition)."""
    order: dict[str, list[str]] = {}
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        order.setdefault(record.key, []).append(record.event["event_id"])
    return order
