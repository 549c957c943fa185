"""Per-user event counts: a table keyed by user_id, served at GET /counts/{user_id}/ by any worker.

Why a re-keying topic: the table is routed (`table_route`) by Faust's partitioner, murmur2 of the key,
but Dapr's Kafka producer (sarama) hashes keys with FNV-1a, so a user's events may sit on a different
partition of `task-events` than the one `table_route` would ask. The audit agent therefore forwards
what each batch counts to an internal topic, to the partition murmur2 names for each user; the table
is co-partitioned with that topic, so the partition holding a user's counts is always the one
table_route asks, whoever produced the original event.

Batched: one message per counts partition per audited batch (never one per event), holding every
update of that batch for the users who live on that partition. The tally takes up to TAKE_MAX of those
messages at a time (waiting at most TAKE_WITHIN_SECONDS) and writes each user once per take: the table
write, a changelog record of up to a few KB, costs far more than counting (streams/table_writes.py).

Redelivery: every update carries its source partition and offset. A user's events all come from one
source partition, in order, so an update at or below the last offset counted for that user is a
redelivery and is skipped; counts stay exact across restarts, not merely at least once. The same
event published twice (two messages, one event_id) is caught by the user's last RECENT_EVENT_IDS ids,
so the counts agree with the audit log. What an entry remembers, and how `replay --only counts`
corrects an entry that missed an event below its marks, is in streams/count_entry.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any, cast

import faust
from aiokafka.partitioner import DefaultPartitioner
from faust import Stream, StreamT
from faust.types import EventT
from faust.web import Request, Response, View

from shared.counts import counts_body
from shared.events import TaskEvent
from streams.app import app, settings
from streams.count_entry import (
    CountCorrection,
    CountUpdate,
    apply_correction,
    correction_body,
    correction_from,
    count_run,
)
from streams.metrics import observe_count_updates
from streams.table_writes import write_per_partition

# Corrections per message: each holds up to RECENT_EVENT_IDS positioned event ids (~4 KB), so ~400 KB.
CORRECTIONS_PER_MESSAGE = 100
# A take of counts messages: each audited batch sends at most one per partition, so 200 messages is
# many batches' worth under load, and takes end on the wait. The wait bounds how long a quiet moment's
# counts lag their rows (the audit page polls every 3 s, and once more after rows arrived). Under a
# backlog every take writes most users again, so it sets the table writes per event: 1 s instead of
# 0.25 s took whole-process ingestion from ~2,000 to ~2,500 events/s (bench.worker_ingest, issue 9).
TAKE_MAX = 200
TAKE_WITHIN_SECONDS = 1.0
# Users whose counts partition is remembered (a few MB at most).
COUNTS_PARTITION_CACHE = 65536
log = logging.getLogger(__name__)


class CountBatch(faust.Record, serializer="json"):
    """The updates of one audited batch for the users of one counts partition, as plain lists.

    Or, from `replay --only counts`, corrections for users of that partition (count_entry.py): the
    same topic, so that they reach the worker holding those users' counts.
    """

    updates: list[list[Any]]
    corrections: list[Any] | None = None


counts_by_user = app.topic(
    f"{settings.worker_app_id}-counts-by-user",
    key_type=str,
    key_serializer="json",
    value_type=CountBatch,
    partitions=settings.task_events_partitions,
    internal=True,
)
user_to_counts = app.Table(
    "user_to_counts",
    key_type=str,
    # No value_type: values are plain JSON dicts (value_type=dict breaks changelog recovery).
    partitions=settings.task_events_partitions,
)
_partitioner = DefaultPartitioner()


@lru_cache(maxsize=COUNTS_PARTITION_CACHE)
def counts_partition(user_id: str) -> int:
    """The partition table_route asks for this user: Faust's key bytes through the producer's murmur2.

    Remembered per user: aiokafka's murmur2 is pure Python, and hashing every event's user was 4% of
    the worker's core under ingestion (py-spy); the same users come back batch after batch.
    """
    key = user_to_counts.changelog_topic.prepare_key(user_id, None)[0]
    return int(_partitioner(key, list(range(user_to_counts.partitions or 1)), []))


def count_update(task_event: TaskEvent, *, partition: int, offset: int) -> CountUpdate:
    """The update an event read at this task-events position contributes (the worker's and the replay's)."""
    return CountUpdate(
        task_event.user_id,
        str(task_event.event_id),
        task_event.event_type,
        partition,
        offset,
        task_event.timestamp.timestamp(),
    )


def by_partition(updates: Iterable[CountUpdate]) -> dict[int, list[CountUpdate]]:
    """Updates grouped by the counts partition of their user, each group in arrival order."""
    grouped: dict[int, list[CountUpdate]] = defaultdict(list)
    for update in updates:
        grouped[counts_partition(update.user_id)].append(update)
    return grouped


async def forward_updates(updates: Iterable[CountUpdate]) -> None:
    """Send updates, one message per counts partition, and wait until the broker has them all."""
    pending = [
        await counts_by_user.send(value=CountBatch(updates=[list(u) for u in group]), partition=p, force=True)
        for p, group in by_partition(updates).items()
    ]
    await asyncio.gather(*pending)


async def forward_counts(audited: Sequence[tuple[EventT, TaskEvent]]) -> None:
    """Forward what an audited batch counts, each update marked with its task-events position."""
    await forward_updates(
        count_update(task_event, partition=event.message.partition, offset=event.message.offset)
        for event, task_event in audited
    )


async def forward_corrections(corrections: Iterable[CountCorrection]) -> None:
    """Send corrections to their users' counts partitions, a bounded number a message, and wait for them."""
    grouped: dict[int, list[CountCorrection]] = defaultdict(list)
    for correction in corrections:
        grouped[counts_partition(correction.user_id)].append(correction)
    pending = []
    for partition, group in grouped.items():
        for start in range(0, len(group), CORRECTIONS_PER_MESSAGE):
            bodies = [correction_body(c) for c in group[start : start + CORRECTIONS_PER_MESSAGE]]
            batch = CountBatch(updates=[], corrections=bodies)
            pending.append(await counts_by_user.send(value=batch, partition=partition, force=True))
    await asyncio.gather(*pending)


def correct(correction: CountCorrection) -> None:
    """Set one user's counts from a replay's correction, or log why it was refused."""
    corrected = apply_correction(user_to_counts.get(correction.user_id), correction)
    if corrected is None:
        log.warning(
            "counts correction for user %r refused: more live events were counted past the replay's "
            "snapshot than the entry remembers; run `replay --only counts` again",
            correction.user_id,
        )
    else:
        user_to_counts[correction.user_id] = corrected


def corrections_in(batch: CountBatch) -> list[CountCorrection]:
    """A count batch's corrections, leaving out (and logging) any that is not one."""
    found = []
    for body in batch.corrections or []:
        correction = correction_from(body)
        if correction is None:
            log.warning("counts correction ignored: not a correction: %.200r", body)
        else:
            found.append(correction)
    return found


def updates_in(batch: CountBatch) -> list[CountUpdate]:
    """A count batch's updates, in order."""
    return [CountUpdate(*fields) for fields in batch.updates]


def by_user(updates: Iterable[CountUpdate]) -> dict[str, list[CountUpdate]]:
    """Updates per user, each user's in order."""
    users: dict[str, list[CountUpdate]] = defaultdict(list)
    for update in updates:
        users[update.user_id].append(update)
    return users


def tally_updates(updates: Iterable[CountUpdate]) -> None:
    """Add updates to their users' counts in order, one table write per user, and count the outcomes."""
    for user_id, run in by_user(updates).items():
        changed, counted = count_run(user_to_counts.get(user_id), run)
        if changed is not None:
            user_to_counts[user_id] = changed
        observe_count_updates(zip((u.event_type for u in run), counted, strict=True))


def tally_batches(batches: Iterable[CountBatch]) -> None:
    """Count a take of batches in order: updates gathered per user, and corrections where they fall.

    A correction applies to what was counted before it, so the updates gathered so far are written
    first; the result is the one the batches give counted one message at a time.
    """
    gathered: list[CountUpdate] = []
    for batch in batches:
        gathered.extend(updates_in(batch))
        corrections = corrections_in(batch)
        if corrections:
            tally_updates(gathered)
            gathered = []
            for correction in corrections:
                correct(correction)
    tally_updates(gathered)


@app.agent(counts_by_user)
async def tally(stream: StreamT) -> None:
    """Add each take of batches to its users' counts, skipping redeliveries, corrections in order.

    Counting is synchronous, so a take is written whole before the next one is asked for (which acks
    it); the table's changelog records are flushed before those offsets are committed.
    """
    async for events in cast(Stream, stream).take_events(TAKE_MAX, within=TAKE_WITHIN_SECONDS):
        tally_take(events)


def tally_take(events: Sequence[EventT]) -> None:
    """Count a take partition by partition, each user's entry written on the partition it lives on."""
    write_per_partition(events, lambda group: tally_batches(cast(CountBatch, event.value) for event in group))


@app.page("/counts/{user_id}/")
class UserCounts(View):
    """A user's event counts, answered by whichever worker holds that user's partition."""

    # Faust types a view method as (self, request); table_route passes the matched user_id too.
    @app.table_route(table=user_to_counts, match_info="user_id")  # type: ignore[arg-type]
    async def get(self, request: Request, user_id: str) -> Response:
        """Return the counts as JSON (zeros for an unknown user)."""
        return self.json(counts_body(user_id, user_to_counts.get(user_id)))
