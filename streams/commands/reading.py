"""Reading a topic from chosen positions up to where it ended when the read began, in no consumer group.

A plain aiokafka consumer with assigned partitions commits nothing, so a replay or a look at the DLQ
never moves the worker's offsets nor joins its group. The end is fixed first: messages produced
while the command runs are the worker's, not the command's.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.structs import OffsetAndTimestamp

from shared.events import EventValidationError, parse_timestamp
from shared.kafka import client_options
from shared.settings import Settings
from streams.commands.base import Usage

# A partition that returns nothing this long while short of its end (compacted away, aborted
# transactions) is finished rather than waited on forever.
IDLE_SECONDS = 10.0
Plan = dict[TopicPartition, tuple[int, int]]


@dataclass(frozen=True)
class Start:
    """Where a read begins: the beginning, a moment, or given offsets of given partitions."""

    beginning: bool = False
    since: datetime | None = None
    offsets: Mapping[int, int] = field(default_factory=dict)


def parse_position(text: str, option: str) -> tuple[int, int]:
    """PARTITION:OFFSET, both non-negative integers."""
    partition, colon, offset = text.partition(":")
    if not (colon and partition.isdigit() and offset.isdigit()):
        raise Usage(f"{option} takes PARTITION:OFFSET such as 0:42, not {text!r}")
    return int(partition), int(offset)


def parse_since(text: str, option: str = "--since") -> datetime:
    """An ISO 8601 / RFC 3339 time with a zone, such as 2026-12-01T09:00:00Z."""
    try:
        return parse_timestamp(text, option)
    except EventValidationError:
        raise Usage(f"{option} takes a time with a zone such as 2026-12-01T09:00:00Z, not {text!r}") from None


@asynccontextmanager
async def open_consumer(settings: Settings) -> AsyncIterator[AIOKafkaConsumer]:
    """A started consumer with the shared connection options, no group and no commits."""
    consumer = AIOKafkaConsumer(
        **client_options(settings), group_id=None, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


async def partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """The topic's partitions; a usage error when the topic does not exist."""
    await consumer.topics()  # refreshes the metadata partitions_for_topic reads
    found = consumer.partitions_for_topic(topic)
    if not found:
        raise Usage(f"topic {topic!r} does not exist on {consumer._client._bootstrap_servers}")
    return [TopicPartition(topic, number) for number in sorted(found)]


async def plan_read(
    consumer: AIOKafkaConsumer, topic: str, start: Start, ends: Mapping[TopicPartition, int] | None = None
) -> Plan:
    """(first offset, end offset) per partition to read, leaving out those with nothing to read.

    The ends are where the topic ends now, unless given (two plans that must end at the same place).
    """
    tps = await partitions(consumer, topic)
    ends = ends if ends is not None else await consumer.end_offsets(tps)
    if start.offsets:
        unknown = sorted(set(start.offsets) - {tp.partition for tp in tps})
        if unknown:
            raise Usage(f"{topic} has partitions 0-{len(tps) - 1}; there is no partition {unknown[0]}")
        begins = {tp: start.offsets[tp.partition] for tp in tps if tp.partition in start.offsets}
    elif start.since is not None:
        moment = int(start.since.timestamp() * 1000)
        found = await consumer.offsets_for_times(dict.fromkeys(tps, moment))
        begins = {tp: _offset_at(found[tp], ends[tp]) for tp in tps}
    else:
        begins = await consumer.beginning_offsets(tps)
    return {tp: (begin, ends[tp]) for tp, begin in begins.items() if begin < ends[tp]}


def _offset_at(found: OffsetAndTimestamp | None, end: int) -> int:
    """The offset a time lookup found, or the end when nothing is that recent.

    Kafka says "nothing" with None; Tansu answers offset 0 with timestamp -1 instead.
    """
    if found is None or found.timestamp < 0:
        return end
    return int(found.offset)


async def read(
    consumer: AIOKafkaConsumer, plan: Plan, short: set[TopicPartition] | None = None
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """Every record of the plan, partition by partition in offset order, then stop.

    A partition given up as idle before its end is added to `short`, for a caller that must know.
    """
    consumer.assign(list(plan))
    for tp, (begin, _end) in plan.items():
        consumer.seek(tp, begin)
    remaining, last_seen = set(plan), dict.fromkeys(plan, time.monotonic())
    while remaining:
        batch = await consumer.getmany(*remaining, timeout_ms=500)
        for tp, records in batch.items():
            last_seen[tp] = time.monotonic()
            for record in records:
                if record.offset < plan[tp][1]:  # a fetch may return more than was there at the start
                    yield record
        for tp in list(remaining):
            if await consumer.position(tp) >= plan[tp][1]:
                remaining.discard(tp)
            elif time.monotonic() - last_seen[tp] > IDLE_SECONDS:
                remaining.discard(tp)
                if short is not None:
                    short.add(tp)
