"""Faust's aiokafka transport with a configurable fetch wait, registered under its own URL scheme.

Faust builds its consumer with `fetch_max_wait_ms=1500` and no setting to change it. Real Kafka
answers a waiting fetch as soon as data arrives, but Tansu (the dev and test broker) holds a fetch
over several partitions for the whole wait, so an event sat ~750 ms on average before the worker
saw it (measured in tests/e2e/test_pipeline.py). WORKER_FETCH_MAX_WAIT_MS bounds that wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiokafka
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import TRANSPORTS
from faust.transport.drivers import aiokafka as driver
from faust.types import TP, Message
from faust.utils.functional import consecutive_numbers
from mode import ServiceT

from shared.settings import get_settings

SCHEME = "todo-kafka"


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

    def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
        """The consumer thread that applies our fetch wait."""
        return FetchWaitConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _drain_messages(self, fetcher: ServiceT) -> None:
        """Hand each fetched record to the agents, in order, until the consumer or fetcher stops."""
        try:
            while not (self._stopped.is_set() or fetcher._stopped.is_set()):  # type: ignore[attr-defined]
                self.diag.set_flag(CONSUMER_FETCHING)
                records = self.getmany(timeout=1.0)
                await self.sleep(0)
                if not self.should_stop and not await self._deliver_all(records):
                    return
                self.diag.unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if not self.transport.app.should_stop:
                raise
        except asyncio.CancelledError:
            if not self.transport.app.should_stop:
                raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)

    async def _deliver_all(self, records: AsyncIterator[tuple[TP, Message]]) -> bool:
        """Deliver one fetch; False once the consumer is stopping."""
        rewound: set[TP] = set()
        async for tp, message in records:
            if tp in rewound:
                continue  # fetched again after the seek below
            await self._maybe_commit()
            delivery = self.callback(message)
            outcome = await self.wait_first(delivery, self.suspend_flow.wait())
            if outcome.stopped:
                return False
            if delivery not in outcome.done:
                rewound.add(tp)
                await self.seek(tp, message.offset)
                continue
            self._read_offset[tp] = message.offset
            first = self._first_delivered.get(tp)
            if first is None or message.offset < first:
                self._first_delivered[tp] = message.offset
        return True

    def _new_offset(self, tp: TP) -> int | None:
        """The offset to commit for tp: past the acknowledged run that starts where the last commit ended.

        Faust's version let the run start one offset late, and any offset at all while nothing had
        been committed yet: a record still being processed (or lost with its worker) was committed
        as done once a later one was acknowledged.
        """
        acked = self._acked[tp]
        if not acked:
            return None
        acked.sort()
        committed = self._committed_offset[tp]
        head = committed if committed is not None else self._first_delivered.get(tp)
        if head is None or acked[0] > head:
            return None  # the record at the head is not done yet
        run = next(consecutive_numbers(acked))
        del acked[: len(run)]
        self._acked_index[tp].difference_update(run)
        return int(run[-1]) + 1

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
