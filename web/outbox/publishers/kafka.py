"""Publishing straight to Kafka with aiokafka, driven from sync code through a private event loop."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner, murmur2

from shared.kafka import client_options
from shared.retry import is_broker_unreachable
from shared.settings import Settings
from web.outbox.publishers.base import SKIPPED, Outgoing, Refused, failed_all
from web.outbox.publishers.cloudevents import encode, envelope

log = logging.getLogger(__name__)
# Keys (user ids) whose murmur2 hash the relay's partitioner remembers: a few MB at most.
KEY_HASH_CACHE = 65536


class RememberingPartitioner:
    """aiokafka's default partitioner (murmur2 of the key, as Java clients place keys), hashes remembered.

    Every event goes out keyed by its user, and aiokafka's murmur2 is pure Python: 2% of a web
    worker's core under bench.api's creates (py-spy). It picks the very partition the default does,
    so a user's events stay on one partition whichever version sent them (tested against it).
    """

    def __init__(self, size: int = KEY_HASH_CACHE) -> None:
        self._hash = lru_cache(maxsize=size)(murmur2)
        self._default = DefaultPartitioner()

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        """The partition for a key: murmur2's, or for no key the default's random pick."""
        if key is None:
            return int(self._default(key, all_partitions, available))
        return all_partitions[(self._hash(key) & 0x7FFFFFFF) % len(all_partitions)]


def producer_options(settings: Settings) -> dict[str, Any]:
    """aiokafka producer configuration: the shared connection, acks=all, idempotence as configured."""
    return {
        **client_options(settings),
        "client_id": f"{settings.dapr_app_id}-relay",
        "acks": "all",
        "enable_idempotence": settings.idempotent_producer,
        "request_timeout_ms": int(settings.kafka_timeout_seconds * 1000),
        "partitioner": RememberingPartitioner(),
    }


class _HeldBack(Exception):
    """Not sent: an earlier event of the same user was refused in this batch."""


def _failed(exc: BaseException) -> asyncio.Future[Any]:
    """A settled future holding exc, standing in for the ack of a record the producer refused."""
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    future.set_exception(exc)
    return future


class KafkaPublisher:
    """Produces CloudEvents envelopes to the events topic, keyed by user_id (one partition per user)."""

    def __init__(self, *, settings: Settings, topic: str | None = None) -> None:
        self._settings = settings
        self._topic = topic or settings.task_events_topic
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="kafka-publisher", daemon=True)
        self._thread.start()
        self._producer: AIOKafkaProducer | None = None

    def publish(self, batch: Sequence[Outgoing]) -> list[str | None]:
        """Send the batch and wait for every acknowledgement (bounded by KAFKA_TIMEOUT_SECONDS)."""
        if not batch:
            return []
        return asyncio.run_coroutine_threadsafe(self._publish(batch), self._loop).result()

    def close(self) -> None:
        """Flush and stop the producer, then the loop thread."""
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._drop_producer(), self._loop).result()
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()

    async def _started(self) -> AIOKafkaProducer:
        """The producer, started on first use and after a failed start."""
        if self._producer is None:
            producer = AIOKafkaProducer(**producer_options(self._settings))
            try:
                await producer.start()
            except BaseException:
                await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def _drop_producer(self) -> None:
        """Stop the producer so the next publish connects afresh."""
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def _publish(self, batch: Sequence[Outgoing]) -> list[str | None]:
        """Enqueue every event (aiokafka keeps one request in flight per partition), then await acks."""
        try:
            producer = await self._started()
        except Exception as exc:
            return failed_all(batch, f"broker unavailable: {type(exc).__name__}: {exc}")
        acks: list[asyncio.Future[Any]] = []
        refused_users: set[str] = set()
        for item in batch:
            if item.user_id in refused_users:
                acks.append(_failed(_HeldBack()))
                continue
            value = encode(self._wrap(item))
            try:
                # A timeout scope, not wait_for: that wraps every send in a task of its own, which
                # profiling put at a tenth of the relay's publishing time.
                async with asyncio.timeout(self._settings.kafka_timeout_seconds):
                    acks.append(await self._send(producer, item, value))
            except Exception as exc:
                if not is_broker_unreachable(exc):
                    # This record itself is refused (too large, say): other users' events go on.
                    acks.append(_failed(exc))
                    refused_users.add(item.user_id)
                    continue
                # Metadata or buffer trouble: the broker is not taking writes; stop the batch here.
                reason = f"send failed: {type(exc).__name__}: {exc}"
                return await self._settle(acks, batch, reason)
        return await self._settle(acks, batch, "")

    async def _settle(
        self, acks: list[asyncio.Future[Any]], batch: Sequence[Outgoing], reason: str
    ) -> list[str | None]:
        """Await the acks; after a broker failure reconnect next time, so stale metadata cannot linger."""
        results = self._results(await asyncio.gather(*acks, return_exceptions=True), batch, reason)
        if any(result is not None and not isinstance(result, Refused) for result in results):
            await self._drop_producer()
        return results

    async def _send(self, producer: AIOKafkaProducer, item: Outgoing, value: bytes) -> asyncio.Future[Any]:
        """Hand one record to the producer; the returned future resolves on the broker's ack."""
        return await producer.send(self._topic, value=value, key=item.user_id.encode())

    def _wrap(self, item: Outgoing) -> dict[str, Any]:
        """The event inside the envelope Dapr would have written."""
        settings = self._settings
        return envelope(
            event=item.event, source=settings.dapr_app_id, topic=self._topic, pubsub_name=settings.pubsub_name
        )

    @staticmethod
    def _results(outcomes: list[Any], batch: Sequence[Outgoing], unsent_reason: str) -> list[str | None]:
        """Per-event results: acked (None), the broker's error, or why it was never sent."""
        results: list[str | None] = []
        for index in range(len(batch)):
            outcome = outcomes[index] if index < len(outcomes) else None
            if index >= len(outcomes):
                results.append(unsent_reason)
            elif isinstance(outcome, _HeldBack):
                results.append(SKIPPED)
            elif isinstance(outcome, BaseException):
                reason = f"{type(outcome).__name__}: {outcome}"
                results.append(reason if is_broker_unreachable(outcome) else Refused(reason))
            else:
                results.append(None)
        return results
