"""Faust's aiokafka transport with a configurable fetch wait, registered under its own URL scheme.

Faust builds its consumer with `fetch_max_wait_ms=1500` and no setting to change it. Real Kafka
answers a waiting fetch as soon as data arrives, but Tansu (the dev and test broker) holds a fetch
over several partitions for the whole wait, so an event sat ~750 ms on average before the worker
saw it (measured in tests/e2e/test_pipeline.py). WORKER_FETCH_MAX_WAIT_MS bounds that wait.
"""

from __future__ import annotations

from typing import Any

import aiokafka
from faust.transport.drivers import TRANSPORTS
from faust.transport.drivers import aiokafka as driver

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
    """Faust's aiokafka consumer using FetchWaitConsumerThread."""

    def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
        """The consumer thread that applies our fetch wait."""
        return FetchWaitConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(driver.Transport):
    """Faust's aiokafka transport with our consumer."""

    Consumer = Consumer


def broker_urls(bootstrap_servers: str) -> list[str]:
    """KAFKA_BOOTSTRAP_SERVERS as broker URLs for this transport."""
    return [f"{SCHEME}://{server.strip()}" for server in bootstrap_servers.split(",")]


TRANSPORTS.aliases.setdefault(SCHEME, f"{__name__}:Transport")
