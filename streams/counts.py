"""Per-user event counts: a table keyed by user_id, served at GET /counts/{user_id}/ by any worker.

Why a re-keying topic: the table is routed (`table_route`) by Faust's partitioner, murmur2 of the key,
but Dapr's Kafka producer (sarama) hashes keys with FNV-1a, so a user's events may sit on a different
partition of `task-events` than the one `table_route` would ask. The counting agent therefore
re-publishes each event, keyed by user_id, to an internal topic with Faust's own producer; the table is
co-partitioned with that topic, so the partition holding a user's counts is always the one murmur2
names, whoever produced the original event.

Redelivery: every update carries its source partition and offset. A user's events all come from one
source partition, in order, so an update at or below the last offset counted for that user is a
redelivery and is skipped; counts stay exact across restarts, not merely at least once. The same
event published twice (two messages, one event_id) is caught by the user's last RECENT_EVENT_IDS ids,
so the counts agree with the audit log.
"""

from __future__ import annotations

from typing import Any

import faust
from faust import StreamT
from faust.types import EventT
from faust.web import Request, Response, View

from shared.counts import COUNT_FIELDS, counts_body
from streams.app import app, settings
from streams.decoding import try_decode
from streams.topics import task_events

RECENT_EVENT_IDS = 50


class CountUpdate(faust.Record, serializer="json"):
    """One event to count, with where it came from (for spotting redeliveries)."""

    user_id: str
    event_id: str
    event_type: str
    source_partition: int
    source_offset: int
    # When the event happened (seconds since the epoch), for the hourly activity (streams/activity.py);
    # None only in an update forwarded by a worker from before that table.
    timestamp: float | None = None


counts_by_user = app.topic(
    f"{settings.worker_app_id}-counts-by-user",
    key_type=str,
    # A table serialises str keys as JSON and table_route hashes those bytes: this topic must use the
    # same key bytes so that a user's updates land on the partition table_route will ask.
    key_serializer="json",
    value_type=CountUpdate,
    partitions=settings.task_events_partitions,
    internal=True,
)
user_to_counts = app.Table(
    "user_to_counts",
    key_type=str,
    # No value_type: values are plain JSON dicts (value_type=dict breaks changelog recovery).
    partitions=settings.task_events_partitions,
)


def count_update(event: EventT, *, max_bytes: int) -> CountUpdate | None:
    """The update a raw task-events message contributes, or None if it is not a valid event."""
    decoded = try_decode(event.message.value, max_bytes=max_bytes)
    if isinstance(decoded, Exception):
        return None
    return CountUpdate(
        user_id=decoded.user_id,
        event_id=str(decoded.event_id),
        event_type=decoded.event_type,
        source_partition=event.message.partition,
        source_offset=event.message.offset,
        timestamp=decoded.timestamp.timestamp(),
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


@app.agent(task_events)
async def rekey_counts(stream: StreamT) -> None:
    """Forward each valid event to the counts topic keyed (and so partitioned) by user_id."""
    async for event in stream.events():
        update = count_update(event, max_bytes=settings.max_event_bytes)
        if update is not None:
            await counts_by_user.send(key=update.user_id, value=update)


@app.agent(counts_by_user)
async def tally(stream: StreamT) -> None:
    """Add each update to its user's counts, skipping redeliveries."""
    async for update in stream:
        counted = apply_update(user_to_counts.get(update.user_id), update)
        if counted is not None:
            user_to_counts[update.user_id] = counted


@app.page("/counts/{user_id}/")
class UserCounts(View):
    """A user's event counts, answered by whichever worker holds that user's partition."""

    # Faust types a view method as (self, request); table_route passes the matched user_id too.
    @app.table_route(table=user_to_counts, match_info="user_id")  # type: ignore[arg-type]
    async def get(self, request: Request, user_id: str) -> Response:
        """Return the counts as JSON (zeros for an unknown user)."""
        return self.json(counts_body(user_id, user_to_counts.get(user_id)))
