"""Helpers for the worker tests: real `faust worker` processes, a real producer, DLQ reading, polling."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from shared.events import TaskEvent
from shared.settings import environment

T = TypeVar("T")
Record = tuple[bytes | None, bytes, list[tuple[str, bytes]]]

# The fast consumer-group timing the worker uses in dev and tests (see streams/app.py).
FAST_GROUP = {
    "BROKER_SESSION_TIMEOUT": "6",
    "BROKER_REBALANCE_TIMEOUT": "6",
    "BROKER_HEARTBEAT_INTERVAL": "1",
}


def wait_for(
    predicate: Callable[[], T], *, timeout: float = 20.0, interval: float = 0.1, what: str = ""
) -> T:
    """Poll until predicate() is truthy and return it, failing with `what` after the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what or predicate} (last: {value!r})"
            )
        time.sleep(interval)


class Worker:
    """One `faust -A streams.app worker` process with its own web port and log file."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.port = int(env["WORKER_WEB_PORT"])
        self.process: subprocess.Popen[bytes] | None = None
        self.started = 0.0

    def start(self) -> Worker:
        """Launch the worker in its own session (so we can kill exactly it)."""
        self.started = time.monotonic()
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "faust", "-A", "streams.app", "worker", "-l", "info"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def get(self, path: str) -> tuple[int, Any]:
        """GET a path on the worker's web server: (status, JSON body); (0, None) if unreachable."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")
        except OSError:
            return 0, None

    def wait_ready(self, timeout: float = 60.0) -> float:
        """Wait for GET /ready/ to answer 200; returns seconds since start."""

        def ready() -> bool:
            assert self.process is not None
            assert self.process.poll() is None, f"worker died, see {self.log_path}"
            return self.get("/ready/")[0] == 200

        wait_for(ready, timeout=timeout, interval=0.1, what=f"worker ready (log {self.log_path})")
        return time.monotonic() - self.started

    def partitions(self) -> list[int]:
        """The task-events partitions the worker says it holds."""
        return list(self.get("/ready/")[1]["partitions"])

    def log(self) -> str:
        """The worker's output so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """SIGTERM and wait (SIGKILL if it hangs)."""
        self._signal(signal.SIGTERM)
        try:
            if self.process:
                self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        self._signal(signal.SIGKILL)
        if self.process:
            self.process.wait()

    def _signal(self, sig: int) -> None:
        """Signal the worker's process group if it is still running."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, sig)


def worker_env(
    *,
    database_url: str,
    bootstrap: str,
    events_topic: str,
    dlq_topic: str,
    app_id: str,
    port: int,
    data_dir: Path,
    smtp_port: int,
    store: str = "memory://",
    **extra: str,
) -> dict[str, str]:
    """The environment for a worker process in a test."""
    return {
        **environment(),
        "APP_ENV": "test",
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "TASK_EVENTS_TOPIC": events_topic,
        "TASK_EVENTS_DLQ_TOPIC": dlq_topic,
        "WORKER_APP_ID": app_id,
        "WORKER_WEB_PORT": str(port),
        "WORKER_DATA_DIR": str(data_dir),
        "TABLE_STORE": store,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "RETRY_MAX_BACKOFF_SECONDS": "1",
        **FAST_GROUP,
        **extra,
    }


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
