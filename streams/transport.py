"""Faust's aiokafka transport with a configurable fetch wait, registered under its own URL scheme.

Faust builds its consumer with `fetch_max_wait_ms=1500` and no setting to change it. Real Kafka
answers a waiting fetch as soon as data arrives, but Tansu (the dev and test broker) holds a fetch
over several partitions for the whole wait, so an event sat ~750 ms on average before the worker
saw it (measured in tests/e2e/test_pipeline.py). WORKER_FETCH_MAX_WAIT_MS bounds that wait.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiokafka
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import TRANSPORTS
from faust.transport.drivers import aiokafka as driver
from faust.types import TP, Message
from mode import ServiceT

from shared.settings import get_settings

SCHEME = "todo-kafka"
log = logging.getLogger(__name__)


class FetchWaitConsumerThread(driver.AIOKafkaConsumerThread):
    """The aiokafka consumer thread, its fetch wait taken from the settings."""

    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        """Faust's worker consumer with our fetch wait (aiokafka reads it when it starts fetching)."""
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = get_settings().worker_fetch_max_wait_ms
        return consumer


class Consumer(driver.Consumer):
    """Faust's aiokafka consumer with our fetch wait, and a fetch loop that never loses a record.

    Faust's own loop (`Consumer._drain_messages`) lost records in the kill test
    (tests/faults/test_worker_killed.py: completions never mailed, events never audited), and
    committed past them, in two steps:
    - a record whose delivery to the agents' queues was cut short by a rebalance (the flow is
      suspended while the queues are full, and the delivery is cancelled) still counted as read;
    - after the rebalance, records fetched before Faust's seek to the committed offsets arrived
      after it: the offsets between the last read record and them were marked processed (a "gap",
      meant for compacted topics), and the same records fetched again were dropped as already read.
    This loop delivers every record it fetches (a second delivery is harmless: every agent is
    idempotent per event), seeks a partition back to a record whose delivery was cut short, and
    records no gaps, so only offsets an agent acknowledged are ever committed. None of our
    topics is compacted or written by transactions; a hole in a partition's offsets would stop its
    commits (the lag alert fires) rather than skip anything.
    """

    def __post_init__(self) -> None:
        super().__post_init__()
        # The lowest offset delivered per partition: where commits start while none was made yet.
        self._first_delivered: dict[TP, int] = {}
        # The offset after the last record delivered per partition: a record past it means a skip.
        self._next_offset: dict[TP, int] = {}

    def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
        """The consumer thread that applies our fetch wait."""
        return FetchWaitConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _drain_messages(self, fetcher: ServiceT) -> None:
        """Hand each fetched record to the agents, in order, until the consumer or fetcher stops.

        Like Faust's loop it ends only when one of them stops, and lets a cancellation through (the
        fetcher restarts itself after a rebalance from that).
        """
        try:
            while not (self._stopped.is_set() or fetcher._stopped.is_set()):  # type: ignore[attr-defined]
                self.diag.set_flag(CONSUMER_FETCHING)
                records = self.getmany(timeout=1.0)
                await self.sleep(0)
                if not self.should_stop:
                    await self._deliver_all(records)
                self.diag.unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if not self.transport.app.should_stop:
                raise
        except asyncio.CancelledError:
            if not self.transport.app.should_stop:
                raise
        except Exception:
            log.exception("the fetch loop failed")  # as Faust's loop does, before its supervisor acts
            raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)

    async def _deliver_all(self, records: AsyncIterator[tuple[TP, Message]]) -> None:
        """Deliver one fetch; a partition whose delivery was cut short is fetched again from there."""
        rewound: set[TP] = set()
        async for tp, message in records:
            if tp in rewound:
                continue  # fetched again after the rewind
            expected = self._expected(tp, message)
            if expected is not None and message.offset > expected:
                # Records between were fetched but not handed to us (Faust's getmany leaves out a
                # partition that was paused meanwhile): fetch them again rather than skip them.
                rewound.add(tp)
                await self._rewind(tp, expected)
                continue
            await self._maybe_commit()
            delivery = self.callback(message)
            outcome = await self.wait_first(delivery, self.suspend_flow.wait())
            if delivery not in outcome.done:
                rewound.add(tp)
                await self._rewind(tp, message.offset)
                continue
            self._read_offset[tp] = message.offset
            self._next_offset[tp] = message.offset + 1
            first = self._first_delivered.get(tp)
            if first is None or message.offset < first:
                self._first_delivered[tp] = message.offset

    async def perform_seek(self) -> None:
        """Faust's seek to the committed offsets (after a rebalance): expect records from there on."""
        self._next_offset.clear()
        await super().perform_seek()

    def _expected(self, tp: TP, message: Message) -> int | None:
        """The offset tp's next record must have, where we know it (acknowledged topics only).

        Changelog topics are compacted, so their offsets have holes; they are not acknowledged and
        not checked. Going back (a seek to the committed offset after a rebalance) is always fine.
        """
        if not self.app.topics.acks_enabled_for(message.topic):
            return None
        if tp in self._next_offset:
            return self._next_offset[tp]
        return self._committed_offset[tp]

    async def _rewind(self, tp: TP, offset: int) -> None:
        """Fetch tp again from a record whose delivery was cut short, if tp is still ours.

        A rebalance cuts deliveries short; when it took tp away, or the seek fails, nothing is lost:
        the record was never acknowledged, so whoever holds tp next starts at or before it. A seek
        that raised here used to end the fetch loop, and the worker fetched nothing more.
        """
        if tp not in self.assignment():
            return
        try:
            await self.seek(tp, offset)
        except Exception as exc:  # the partition went away between the check and the seek
            log.info("not rewinding %s to %d: %s", tp, offset, exc)

    async def _maybe_commit(self) -> None:
        """Commit every broker_commit_every acknowledged records, as Faust's loop does."""
        if self._commit_every is not None and self._n_acked >= self._commit_every:
            self._n_acked = 0
            await self.commit()


class Transport(driver.Transport):
    """Faust's aiokafka transport with our consumer."""

    Consumer = Consumer


def broker_urls(bootstrap_servers: str) -> list[str]:
    """KAFKA_BOOTSTRAP_SERVERS as broker URLs for this transport."""
    return [f"{SCHEME}://{server.strip()}" for server in bootstrap_servers.split(",")]


TRANSPORTS.aliases.setdefault(SCHEME, f"{__name__}:Transport")
