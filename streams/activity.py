"""Each user's events per type by hour: a windowed table served at GET /activity/{user_id}/?range=24h|30d.

Fed from the counts topic (streams/counts.py), never from task-events: each of its batches sits on the
partition table_route names for its users, so this table is co-partitioned with it exactly like
user_to_counts, and any worker finds the one holding a user's hours. Like the tally, a batch costs one
table write per user and hour, not one per event.

Each update lands in the hour of the event's own timestamp, not the hour the worker saw it, so a replay
or a late event fills the hour it happened in and the series agrees with audit_log. Every hourly window
keeps the counts shape with its own redelivery marks (count_entry.apply_update): a user's events come from
one source partition in order, so an offset at or below the last one counted in that hour was counted
there already, and a repeated event_id is a second publication of an event counted before.

Windows expire 30 days after they close; the changelog topic deletes as well as compacts them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from faust import Stream, StreamT
from faust.tables.wrappers import WindowWrapper
from faust.types import EventT
from faust.types.tables import WindowWrapperT
from faust.web import Request, Response, View

from shared.activity import RANGES, Range, bucket_starts, format_start
from shared.events import EVENT_TYPES
from streams.app import app, settings
from streams.count_entry import CountUpdate, apply_updates
from streams.counts import TAKE_MAX, TAKE_WITHIN_SECONDS, CountBatch, counts_by_user, updates_in
from streams.table_writes import write_per_partition

HOUR = 3600.0

# WindowWrapper, not WindowWrapperT: relative_to(timestamp) is on the class but not the interface.
user_to_hourly_activity = cast(
    WindowWrapper,
    app.Table(
        "user_to_hourly_activity",
        key_type=str,
        # No value_type, like user_to_counts: values are plain JSON dicts. A missing hour reads as {}.
        default=dict,
        partitions=settings.task_events_partitions,
    ).tumbling(HOUR, expires=timedelta(days=30)),
)


def hour_of(timestamp: float) -> WindowWrapperT:
    """The table as seen from the hour holding `timestamp` (seconds since the epoch)."""
    return user_to_hourly_activity.relative_to(float(timestamp))


def by_user_hour(updates: Iterable[CountUpdate]) -> dict[tuple[str, float], list[CountUpdate]]:
    """Timed updates (timed_updates) grouped by (user, start of their event's hour), each group in order."""
    groups: dict[tuple[str, float], list[CountUpdate]] = defaultdict(list)
    for update in updates:
        moment = cast(float, update.timestamp)
        groups[(update.user_id, moment - moment % HOUR)].append(update)
    return groups


def record_activity(updates: Iterable[CountUpdate]) -> None:
    """Count timed updates in the hours their events happened: one write per user and hour."""
    for (user_id, start), run in by_user_hour(updates).items():
        hour = hour_of(start)
        counted = apply_updates(hour[user_id].value() or None, run)
        if counted is not None:
            hour[user_id] = counted


def bucket_counts(user_id: str, start: datetime, hours: int) -> dict[str, int]:
    """The user's events per type in the `hours` hourly windows from `start`, with a total."""
    totals = dict.fromkeys(EVENT_TYPES, 0)
    for hour in range(hours):
        window: dict[str, Any] = hour_of(start.timestamp() + hour * HOUR)[user_id].value()
        for kind in EVENT_TYPES:
            totals[kind] += int(window.get(kind, 0))
    return {**totals, "total": sum(totals.values())}


def activity_body(user_id: str, span: Range, now: datetime) -> dict[str, Any]:
    """The public JSON for a user's activity: every bucket of the span, oldest first, zeros included."""
    hours = int(span.step.total_seconds() // HOUR)
    series = [
        {"start": format_start(start), **bucket_counts(user_id, start, hours)}
        for start in bucket_starts(span, now)
    ]
    return {"user_id": user_id, "range": span.name, "bucket": span.bucket, "series": series}


@app.agent(counts_by_user)
async def count_activity(stream: StreamT) -> None:
    """Add each take of batches to their users' hours, skipping redeliveries (synchronous, like the tally)."""
    async for events in cast(Stream, stream).take_events(TAKE_MAX, within=TAKE_WITHIN_SECONDS):
        count_take(events)


def count_take(events: Sequence[EventT]) -> None:
    """Count a take partition by partition, each user's hours written on the partition they live on."""
    write_per_partition(events, lambda group: record_activity(timed_updates(group)))


def timed_updates(events: Iterable[EventT]) -> list[CountUpdate]:
    """A take's updates in order, each with its event's time (or, lacking one, when it was forwarded)."""
    return [
        update if update.timestamp is not None else update._replace(timestamp=sent_at(event))
        for event in events
        for update in updates_in(cast(CountBatch, event.value))
    ]


def sent_at(event: EventT) -> float:
    """When the update was forwarded: the hour for an update from a worker that sent no timestamp."""
    return float(event.message.timestamp)


@app.page("/activity/{user_id}/")
class UserActivity(View):
    """A user's activity over time, answered by whichever worker holds that user's partition."""

    # Faust types a view method as (self, request); table_route passes the matched user_id too.
    @app.table_route(table=user_to_hourly_activity, match_info="user_id")  # type: ignore[arg-type]
    async def get(self, request: Request, user_id: str) -> Response:
        """Return the series as JSON, or 422 naming `range` when it is not 24h or 30d."""
        span = RANGES.get(request.query.get("range") or "24h")
        if span is None:
            fields = {"range": f"must be one of {', '.join(RANGES)}"}
            error = {"code": "validation_failed", "message": "invalid fields: range", "fields": fields}
            return self.json({"error": error}, status=422)
        return self.json(activity_body(user_id, span, datetime.now(UTC)))
