"""When the worker's counts table first agreed with the expected counts, read from its changelog.

Why not ask `/counts/` until every user agrees: that costs the worker one HTTP request per user per
pass (1,000 users: ~3 s of requests on a busy worker, measured), so the poll both slowed the worker
and added its own pass to the figure. The table's changelog holds every write the table makes, in
order, each record sent after its write: the timestamp the worker's producer gave the record that
made the last user agree is when the table held the expected counts (a little after). Because the
time comes from the records, not from when they are read, the benchmark can start reading once
the rows are in, and keep the reading (a few hundred MB for 100,000 events) off the machine while
the worker ingests. The benchmark still asks `/counts/` for every user once afterwards, untimed,
so the figure is only taken when the table the users see agrees.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer

from shared.counts import counts_body

# Tansu holds a fetch for its whole wait (streams/transport.py): a short one ends the wait sooner.
FETCH_WAIT_MS = 20


def changelog_topic(app_id: str, table: str = "user_to_counts") -> str:
    """The Kafka topic Faust writes the table's changelog to."""
    return f"{app_id}-{table}-changelog"


class CountsWatch:
    """Follow a counts changelog in a thread; `agreed_at` is when (time.time()) all users first agreed."""

    def __init__(self, bootstrap: str, topic: str, expected: Mapping[str, Mapping[str, object]]) -> None:
        """Watch `topic` on `bootstrap` for the moment every user's counts body equals `expected`."""
        self._bootstrap, self._topic = bootstrap, topic
        self._expected = expected
        self._lagging = {user for user, body in expected.items() if body != counts_body(user, None)}
        self.agreed_at: float | None = time.time() if not self._lagging else None
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="counts-watch", daemon=True)

    def __enter__(self) -> CountsWatch:
        """Start following the changelog."""
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        """Stop following it."""
        self._stop.set()
        self._thread.join(timeout=30)

    def wait(self, timeout: float) -> float:
        """When (time.time()) every user first agreed, waiting up to `timeout` seconds to find it."""
        deadline = time.perf_counter() + timeout
        while self.agreed_at is None:
            if self._error is not None:
                raise SystemExit(f"counts changelog: {self._error!r}")
            if time.perf_counter() > deadline:
                raise SystemExit(f"timed out after {timeout:.0f}s: {len(self._lagging)} users' counts lag")
            time.sleep(0.02)
        return self.agreed_at

    def _run(self) -> None:
        try:
            asyncio.run(self._follow())
        except BaseException as exc:  # reported by wait()
            self._error = exc

    async def _follow(self) -> None:
        # No group: the consumer takes every partition of the topic, from its first record.
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=FETCH_WAIT_MS,
        )
        await consumer.start()
        try:
            # Subscribing first would ask the broker for the topic's metadata, and Tansu creates a
            # topic it is asked about, with its own partition count: the worker's table then refuses
            # the changelog (PartitionsMismatch). So wait until the worker has created it.
            while self._topic not in await consumer.topics():
                if self._stop.wait(0.05):
                    return
            consumer.subscribe([self._topic])
            while not self._stop.is_set():
                batches = await consumer.getmany(timeout_ms=100)
                for records in batches.values():
                    for record in records:
                        self._saw(record.key, record.value, record.timestamp / 1000)
        finally:
            await consumer.stop()

    def _saw(self, key: bytes | None, value: bytes | None, written_at: float) -> None:
        """One table write, made by `written_at`: the user's counts now are what its entry says."""
        if key is None:
            return
        user = json.loads(key)
        if user not in self._expected:
            return
        entry: Any = json.loads(value) if value is not None else None
        if counts_body(user, entry) == self._expected[user]:
            self._lagging.discard(user)
            if not self._lagging and self.agreed_at is None:
                self.agreed_at = written_at
        else:
            self._lagging.add(user)
            self.agreed_at = None
