"""Prometheus metrics of the stream worker, served at GET /metrics on its web port.

Counters are bumped by the plain functions that do the work (audit batches, dead letters, mails);
consumer lag and the counts table's size are read when scraped, from this worker's own view. Each
agent counts the events it settled in a counter of its own, by event type and outcome: an event
passes every agent, so one counter for all of them would count it once per agent when summed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from faust.web import Request, Response, View
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from shared.events import TaskEvent
from streams.app import app, settings
from streams.crashes import AGENT_CRASHES

log = logging.getLogger(__name__)
COUNTS_TABLE = "user_to_counts"

EVENTS = Counter(
    "todo_worker_events", "Task events the audit agent settled, by event type and outcome.",
    ["event_type", "outcome"],
)  # fmt: skip
BATCH_SIZE = Histogram(
    "todo_worker_batch_size", "Events per audit batch.", buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000)
)
BATCH_SECONDS = Histogram(
    "todo_worker_batch_duration_seconds", "Time to make one audit batch durable (rows and dead letters).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)  # fmt: skip
EVENT_LATENCY = Histogram(
    "todo_worker_event_latency_seconds", "From an event's timestamp (its web commit) to its audit row.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)  # fmt: skip
DEAD_LETTERS = Counter("todo_worker_dead_letters", "Messages written to the dead-letter topic, by reason.",
                       ["reason"])  # fmt: skip
MAILS = Counter("todo_worker_mails", "Completion mails, by outcome (sent, failed for good).", ["outcome"])
NOTIFICATION_EVENTS = Counter(
    "todo_worker_notification_events",
    "Completions the notifications agent settled, by event type and outcome: sent, skipped (no mail "
    "due: opted out, capped, unverified, or mailed already) or dead_lettered (the mail refused for good).",
    ["event_type", "outcome"],
)
COUNT_UPDATES = Counter(
    "todo_worker_count_updates",
    "Events the tally agent settled, by event type and outcome: counted, or duplicate (a redelivery or a "
    "second publication of an event counted already, skipped).",
    ["event_type", "outcome"],
)


def observe_audit_batch(
    *, audited: Sequence[TaskEvent], dead_lettered: Sequence[TaskEvent | None], seconds: float
) -> None:
    """Count a settled batch: outcomes by event type, its size, its duration, each row's latency."""
    now = datetime.now(UTC)
    for event in audited:
        EVENTS.labels(event.event_type, "audited").inc()
        EVENT_LATENCY.observe(max(0.0, (now - event.timestamp).total_seconds()))
    for maybe in dead_lettered:
        EVENTS.labels(maybe.event_type if maybe else "unknown", "dead_lettered").inc()
    BATCH_SIZE.observe(len(audited) + len(dead_lettered))
    BATCH_SECONDS.observe(seconds)


def observe_notification(event_type: str, outcome: str) -> None:
    """Count one completion the notifications agent settled (sent, skipped or dead_lettered)."""
    NOTIFICATION_EVENTS.labels(event_type, outcome).inc()


def observe_count_updates(settled: Iterable[tuple[str, bool]]) -> None:
    """Count the tally's (event type, whether counted) pairs: counted, or a duplicate it skipped."""
    for event_type, counted in settled:
        COUNT_UPDATES.labels(event_type, "counted" if counted else "duplicate").inc()


def consumer_offsets(topic: str) -> dict[int, tuple[int, int]]:
    """Per assigned partition of one topic: (committed offset, messages between it and the end).

    Only partitions whose end this worker has seen are reported.
    """
    consumer = app.consumer
    # Faust keeps the group's committed offsets here (read at assignment, updated on each commit);
    # there is no public accessor. A partition never committed counts from 0.
    committed: dict[Any, int | None] = getattr(consumer, "_committed_offset", {})
    offsets: dict[int, tuple[int, int]] = {}
    try:
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp) if tp.topic == topic else None
            if highwater is not None:
                at = committed.get(tp) or 0
                offsets[tp.partition] = (at, max(0, highwater - at))
    except Exception as exc:  # not started, or mid-rebalance: report nothing rather than fail the scrape
        log.debug("consumer offsets unavailable: %s", exc)
    return offsets


class WorkerCollector(Collector):
    """Consumer lag and committed offset per partition, and the counts table's size, read at scrape time.

    The committed offset is what tells a stalled partition from a slow one: lag above zero while
    it stays put (the TodoConsumerStalled alert). A worker once sat ready and idle with a
    partition's tail unread; its lag alone stayed under every threshold.
    """

    def collect(self) -> Iterator[Metric]:
        """Yield the lag and committed-offset gauges and the table-size gauge."""
        lag = GaugeMetricFamily("todo_worker_consumer_lag", "Messages not yet committed, per partition.",
                                labels=["topic", "partition"])  # fmt: skip
        committed = GaugeMetricFamily(
            "todo_worker_committed_offset", "The consumer group's committed offset, per partition.",
            labels=["topic", "partition"],
        )  # fmt: skip
        topic = settings.task_events_topic
        for partition, (at, behind) in sorted(consumer_offsets(topic).items()):
            lag.add_metric([topic, str(partition)], behind)
            committed.add_metric([topic, str(partition)], at)
        yield lag
        yield committed
        table: Any = app.tables.get(COUNTS_TABLE)
        yield GaugeMetricFamily("todo_worker_counts_users", "Users in this worker's counts table.",
                                value=len(table) if table is not None else 0)  # fmt: skip


@app.task
async def start_agent_crash_counts() -> None:
    """Each agent's crash counter at 0 from the start: dashboards and `increase()` see it before a crash.

    A labelled counter has no series until its first label is used; the first crash would then be
    the series' first sample, which `increase()` cannot tell from a counter that was always there.
    """
    for name in app.agents:
        AGENT_CRASHES.labels(name)


# Its own registry, so that only the worker's /metrics reads Faust's consumer and tables (a web app
# importing this module in the same process never touches an app it does not run).
SCRAPED = CollectorRegistry(auto_describe=False)
SCRAPED.register(WorkerCollector())


@app.page("/metrics")
class Metrics(View):
    """The worker's metrics in the Prometheus text format."""

    async def get(self, request: Request) -> Response:
        """Serve every metric of this worker process."""
        body = generate_latest(REGISTRY) + generate_latest(SCRAPED)
        return self.bytes(body, headers={"Content-Type": CONTENT_TYPE_LATEST})
