"""Per-user event counts: a table keyed by user_id, served at GET /counts/{user_id}/ by any worker.

Why a re-keying topic: the table is routed (`table_route`) by Faust's partitioner, murmur2 of the key,
but Dapr's Kafka producer (sarama) hashes keys with FNV-1a, so a user's events may sit on a different
partition of `task-events` than the one `table_route` would ask. The audit agent therefore forwards
what each batch counts to an internal topic, to the partition murmur2 names for each user; the table
is co-partitioned with that topic, so the partition holding a user's counts is always the one
table_route asks, whoever produced the original event.

Batched: one message per counts partition per audited batch (never one per event), holding every
update of that batch for the users who live on that partition; the tally writes each user once.

Redelivery: every update carries its source partition and offset. A user's events all come from one
source partition, in order, so an update at or below the last offset counted for that user is a
redelivery and is skipped; counts stay exact across restarts, not merely at least once. The same
event published twice (two messages, one event_id) is caught by the user's last RECENT_EVENT_IDS ids,
so the counts agree with the audit log.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import faust
from aiokafka.partitioner import DefaultPartitioner
from faust import StreamT
from faust.types import EventT
from faust.web import Request, Response, View

from shared.counts import COUNT_FIELDS, counts_body
from shared.events import TaskEvent
from streams.app import app, settings
from streams.metrics import observe_count_updates

RECENT_EVENT_IDS = 50


class CountUpdate(NamedTuple):
    """One event to count, with where it came from (for spotting redeliveries)."""

    user_id: str
    event_id: str
    event_type: str
    source_partition: int
    source_offset: int
    # When the event happened (seconds since the epoch), for the hourly activity (streams/activity.py);
    # None only in an update forwarded by a worker from before that table.
    timestamp: float | None = None


class CountBatch(faust.Record, serializer="json"):
    """The updates of one audited batch for the users of one counts partition, as plain lists."""

    updates: list[list[Any]]


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


def counts_partition(user_id: str) -> int:
    """The partition table_route asks for this user: Faust's key bytes through the producer's murmur2."""
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


def apply_update(current: dict[str, Any] | None, update: CountUpdate) -> dict[str, Any] | None:
    """The user's counts after this update, or None when it was already counted (a redelivery)."""
    counts = dict(current or dict.fromkeys(COUNT_FIELDS, 0))
    seen = counts.get("offsets", {}).get(str(update.source_partition), -1)
    recent = list(counts.get("recent", []))
    if update.source_offset <= seen or update.event_id in recent:
        return None
    counts[update.event_type] = counts.get(update.event_type, 0) + 1
    counts["total"] = counts.get("total", 0) + 1
    counts["recent"] = [*recent, update.event_id][-RECENT_EVENT_IDS:]
    counts["offsets"] = {**counts.get("offsets", {}), str(update.source_partition): update.source_offset}
    return counts


def count_run(
    current: dict[str, Any] | None, updates: Iterable[CountUpdate]
) -> tuple[dict[str, Any] | None, list[bool]]:
    """One user's counts after a run of updates in order (None if nothing counted), and which counted."""
    changed, counted = None, []
    for update in updates:
        after = apply_update(changed or current, update)
        counted.append(after is not None)
        changed = after or changed
    return changed, counted


def apply_updates(current: dict[str, Any] | None, updates: Iterable[CountUpdate]) -> dict[str, Any] | None:
    """One user's counts after a run of updates in order, or None when every one was a redelivery."""
    return count_run(current, updates)[0]


def updates_in(batch: CountBatch) -> list[CountUpdate]:
    """A count batch's updates, in order."""
    return [CountUpdate(*fields) for fields in batch.updates]


def by_user(batch: CountBatch) -> dict[str, list[CountUpdate]]:
    """A count batch's updates per user, in order."""
    users: dict[str, list[CountUpdate]] = defaultdict(list)
    for update in updates_in(batch):
        users[update.user_id].append(update)
    return users


def tally_batch(batch: CountBatch) -> None:
    """Add a batch's updates to its users' counts, one table write per user, and count the outcomes."""
    for user_id, updates in by_user(batch).items():
        changed, counted = count_run(user_to_counts.get(user_id), updates)
        if changed is not None:
            user_to_counts[user_id] = changed
        observe_count_updates(zip((u.event_type for u in updates), counted, strict=True))


@app.agent(counts_by_user)
async def tally(stream: StreamT) -> None:
    """Add each batch's updates to its users' counts, skipping redeliveries."""
    async for batch in stream:
        tally_batch(batch)


@app.page("/counts/{user_id}/")
class UserCounts(View):
    """A user's event counts, answered by whichever worker holds that user's partition."""

    # Faust types a view method as (self, request); table_route passes the matched user_id too.
    @app.table_route(table=user_to_counts, match_info="user_id")  # type: ignore[arg-type]
    async def get(self, request: Request, user_id: str) -> Response:
        """Return the counts as JSON (zeros for an unknown user)."""
        return self.json(counts_body(user_id, user_to_counts.get(user_id)))
