"""The hourly activity table: the agent run with test_context(), the series it serves, bad ranges."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

from shared.activity import RANGES
from streams.activity import activity_body, count_activity, count_take, user_to_hourly_activity
from streams.count_entry import CountUpdate
from streams.counts import CountBatch, by_partition, counts_partition
from tests.streams.helpers import counts_message, queued_table_records

NOW = datetime(2026, 12, 1, 13, 30, tzinfo=UTC)


def update(
    event_type: str, offset: int, at: datetime, event_id: str | None = None, user_id: str = "a"
) -> CountUpdate:
    """An update for user a (or user_id), for an event that happened `at`."""
    return CountUpdate(
        user_id=user_id,
        event_id=event_id or f"e{offset}",
        event_type=event_type,
        source_partition=0,
        source_offset=offset,
        timestamp=at.timestamp(),
    )


def feed(*updates: CountUpdate) -> None:
    """Run the activity agent over these updates, in order."""

    async def run() -> None:
        async with count_activity.test_context() as agent:
            for each in updates:
                await agent.put(CountBatch(updates=[list(each)]))

    asyncio.run(run())


def test_events_land_in_the_hour_and_day_they_happened() -> None:
    feed(
        update("created", 1, NOW - timedelta(days=40)),
        update("created", 2, NOW - timedelta(days=2, hours=5)),
        update("created", 3, NOW - timedelta(hours=3)),
        update("updated", 4, NOW - timedelta(hours=3, minutes=20)),
        update("completed", 5, NOW - timedelta(minutes=10)),
        update("deleted", 6, NOW),
    )
    hours = activity_body("a", RANGES["24h"], NOW)
    assert (hours["range"], hours["bucket"], len(hours["series"])) == ("24h", "hour", 24)
    by_start = {point["start"]: point for point in hours["series"]}
    assert hours["series"][-1]["start"] == "2026-12-01T13:00:00Z"
    assert by_start["2026-12-01T13:00:00Z"] == {
        "start": "2026-12-01T13:00:00Z", "created": 0, "updated": 0, "completed": 1, "deleted": 1, "total": 2,
    }  # fmt: skip
    three_hours_ago = by_start["2026-12-01T10:00:00Z"]
    assert (three_hours_ago["created"], three_hours_ago["updated"]) == (1, 1)
    assert sum(point["total"] for point in hours["series"]) == 4

    days = activity_body("a", RANGES["30d"], NOW)
    assert (len(days["series"]), days["series"][0]["start"], days["series"][-1]["start"]) == (
        30, "2026-11-02T00:00:00Z", "2026-12-01T00:00:00Z",
    )  # fmt: skip
    totals = {point["start"]: point["total"] for point in days["series"] if point["total"]}
    assert totals == {"2026-11-29T00:00:00Z": 1, "2026-12-01T00:00:00Z": 4}, "40 days ago is outside"


def test_a_redelivered_or_republished_event_counts_once() -> None:
    at = NOW - timedelta(hours=1)
    feed(
        update("created", 10, at, user_id="b"),
        update("created", 10, at, user_id="b"),
        update("created", 11, at, event_id="e10", user_id="b"),
        update("updated", 12, at, user_id="b"),
    )
    series = activity_body("b", RANGES["24h"], NOW)["series"]
    point = next(p for p in series if p["start"] == "2026-12-01T12:00:00Z")
    assert (point["created"], point["updated"], point["total"]) == (1, 1, 2)


def test_a_batch_spanning_hours_is_counted_per_hour_and_again_not_at_all() -> None:
    batch = CountBatch(
        updates=[
            list(update("created", 20, NOW - timedelta(hours=2), user_id="c")),
            list(update("updated", 21, NOW - timedelta(hours=1), user_id="c")),
            list(update("updated", 22, NOW - timedelta(hours=2, minutes=5), user_id="c")),
        ]
    )

    async def run() -> None:
        async with count_activity.test_context() as agent:
            await agent.put(batch)
            await agent.put(batch)

    asyncio.run(run())
    series = {p["start"]: p for p in activity_body("c", RANGES["24h"], NOW)["series"] if p["total"]}
    assert {start: (p["created"], p["updated"]) for start, p in series.items()} == {
        "2026-12-01T11:00:00Z": (1, 1),
        "2026-12-01T12:00:00Z": (0, 1),
    }


def test_an_unknown_user_has_every_bucket_at_zero() -> None:
    series = activity_body("nobody", RANGES["30d"], NOW)["series"]
    assert len(series) == 30
    assert all(point["total"] == 0 for point in series)


def test_a_take_writes_once_per_user_and_hour_on_the_users_partition() -> None:
    users = ("d1", "d2")
    kinds = ["created", "updated", "completed", "updated", "deleted", "created"]
    updates = [
        update(kind, offset, NOW - timedelta(hours=offset % 2), user_id=users[offset % 3 % 2])
        for offset, kind in enumerate(kinds * 3)
    ]
    messages = [
        counts_message(CountBatch(updates=[list(u) for u in group]), partition=partition)
        for start in range(0, len(updates), 4)
        for partition, group in by_partition(updates[start : start + 4]).items()
    ]

    async def run() -> list[tuple[bytes, int]]:
        queued_table_records(user_to_hourly_activity.table)
        count_take(messages)
        return queued_table_records(user_to_hourly_activity.table)

    records = [(json.loads(key)[0], partition) for key, partition in asyncio.run(run())]
    hours_per_user = {user: {u.timestamp // 3600 for u in updates if u.user_id == user} for user in users}
    assert sorted(records) == sorted(
        (user, counts_partition(user)) for user in users for _ in hours_per_user[user]
    ), "one record per user and hour, on the partition of the user's counts"
    assert sum(p["total"] for user in users for p in activity_body(user, RANGES["24h"], NOW)["series"]) == 18
