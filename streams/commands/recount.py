"""The replay's counts: the worker's updates again (for the hourly activity), then absolute corrections.

Updates are skipped by a table entry that counted past them (streams/count_entry.py), so they cannot
fill a gap below its marks; a correction can: each user's counts from task-events up to a snapshot
of its end offsets, which the tally sets, adding what it counted live past the snapshot.

A correction is absolute, so it needs every event of the user: the replay reads the whole topic for
it, whatever range it was asked to rebuild, and refuses to correct anything when the topic cannot
give that (a partition whose first offset is not 0 lost events to retention; one whose read ended
short of its end may hold events not seen). Events are counted once per event_id across the whole
topic, as audit_log stores them once. Memory: the counts, marks and last RECENT_EVENT_IDS events
of every user, and every event id (a few tens of bytes each).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from shared.counts import counts_from
from shared.events import TaskEvent
from streams import counts
from streams.app import app, settings
from streams.commands.reading import read
from streams.count_entry import RECENT_EVENT_IDS, CountCorrection, Counted, CountUpdate
from streams.decoding import DecodeError, try_decode

Pairs = list[tuple[ConsumerRecord[bytes, bytes], TaskEvent]]
Ends = dict[TopicPartition, int]


@dataclass
class History:
    """What the replay read of one user: counts per type, last offsets, last events."""

    per_type: Counter[str] = field(default_factory=Counter)
    offsets: dict[int, int] = field(default_factory=dict)
    recent: deque[Counted] = field(default_factory=lambda: deque(maxlen=RECENT_EVENT_IDS))


@dataclass
class Recount:
    """Every user's history as read so far, and whether the read can be trusted to be whole."""

    users: dict[str, History] = field(default_factory=dict)
    seen: set[int] = field(default_factory=set)
    gaps: list[str] = field(default_factory=list)

    def add(self, record: ConsumerRecord[bytes, bytes], event: TaskEvent) -> None:
        """Count one valid event read at its position (a repeated event_id marks the offset only)."""
        history = self.users.setdefault(event.user_id, History())
        history.offsets[record.partition] = record.offset
        if event.event_id.int in self.seen:
            return
        self.seen.add(event.event_id.int)
        history.per_type[event.event_type] += 1
        history.recent.append(Counted(str(event.event_id), record.partition, record.offset, event.event_type))

    def check_whole(self, beginnings: Mapping[TopicPartition, int], short: Iterable[TopicPartition]) -> None:
        """Note each partition that cannot have given every event: it starts past 0 or was read short."""
        self.gaps += [f"partition {tp.partition} starts at {at}" for tp, at in beginnings.items() if at]
        self.gaps += [f"partition {tp.partition} was not read to its end" for tp in short]

    def corrections(self, users: Iterable[str], snapshot: Ends) -> list[CountCorrection]:
        """A correction for each of these users, whose events were all read up to the snapshot."""
        ends = {tp.partition: end for tp, end in snapshot.items()}
        return [
            CountCorrection(
                user_id=user_id,
                counts=counts_from(history.per_type),
                offsets=dict(history.offsets),
                snapshot=ends,
                recent=list(history.recent),
            )
            for user_id in sorted(users)
            for history in [self.users[user_id]]
        ]


def count_update(record: ConsumerRecord[bytes, bytes], event: TaskEvent) -> CountUpdate:
    """The update the worker's audit agent forwards for this message."""
    return counts.count_update(event, partition=record.partition, offset=record.offset)


async def send_updates(pairs: Pairs) -> None:
    """Send the count updates as the audit agent does (one message per counts partition)."""
    await app.maybe_start_producer()  # started on first use: a replay with nothing to send starts none
    await counts.forward_updates(count_update(record, event) for record, event in pairs)


async def catch_up(
    consumer: AIOKafkaConsumer, ends: Ends, recount: Recount, short: set[TopicPartition]
) -> Ends:
    """Count what arrived while the range was read, up to the topic's new ends, and return those.

    The worker went on counting meanwhile; the newer the snapshot a correction holds, the fewer
    live events the tally must account for past it, so the fewer corrections it must refuse.
    """
    newer = await consumer.end_offsets(list(ends))
    plan = {tp: (end, newer[tp]) for tp, end in ends.items() if end < newer[tp]}
    if plan:
        async for record in read(consumer, plan, short):
            event = try_decode(record.value, max_bytes=settings.max_event_bytes)
            if not isinstance(event, DecodeError):
                recount.add(record, event)
    return newer


async def send_corrections(corrections: list[CountCorrection]) -> None:
    """Send the corrections to the tally, each to its user's counts partition."""
    await app.maybe_start_producer()
    await counts.forward_corrections(corrections)
