"""The hourly activity table in a real worker: events stamped at chosen times, read at /activity/."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.activity import format_start
from shared.events import TaskEvent, new_event
from tests.fixtures.kafka import Topics
from tests.fixtures.streams import Worker, wait_for
from tests.streams.helpers import bare, cloudevent, keyed, produce

pytestmark = pytest.mark.slow


def event_at(user_id: str, event_type: str, at: datetime) -> TaskEvent:
    """A valid event for user_id that happened `at`."""
    event = new_event(
        event_type=event_type, user_id=user_id, task_id=1, title="t", description="", completed=False
    )
    return dataclasses.replace(event, timestamp=at)


def by_day(events: list[TaskEvent], *, since: datetime) -> dict[str, dict[str, int]]:
    """The daily buckets these events fill from `since` on, by start, as the worker should report them."""
    days: dict[str, dict[str, int]] = {}
    for event in events:
        if event.timestamp >= since:
            start = format_start(event.timestamp.replace(hour=0, minute=0, second=0, microsecond=0))
            point = days.setdefault(
                start, {"created": 0, "updated": 0, "completed": 0, "deleted": 0, "total": 0}
            )
            point[event.event_type] += 1
            point["total"] += 1
    return days


def totals(worker: Worker, user_id: str, span: str) -> dict[str, dict[str, Any]]:
    """The worker's non-empty buckets for the user, by start (empty until it answers 200)."""
    status, body = worker.get(f"/activity/{user_id}/?range={span}")
    if status != 200:
        return {}
    return {point.pop("start"): point for point in body["series"] if point["total"]}


def test_events_fill_the_hours_and_days_they_happened_in(
    shared_worker: Worker, module_topics: Topics, kafka_bootstrap: str
) -> None:
    user = f"activity-{uuid.uuid4().hex[:8]}"
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    day = hour.replace(hour=0)
    moments = {
        "created": hour - timedelta(hours=5) + timedelta(minutes=7),
        "updated": hour - timedelta(hours=5) + timedelta(minutes=50),
        "completed": hour + timedelta(seconds=1),
        "deleted": day - timedelta(days=3) + timedelta(hours=2),
    }
    events = [event_at(user, kind, at) for kind, at in moments.items()]
    events.append(event_at(user, "created", day - timedelta(days=45)))
    produce(kafka_bootstrap, module_topics.events, [keyed(e, bare(e)) for e in events])

    zero = {"created": 0, "updated": 0, "completed": 0, "deleted": 0}
    five_hours_ago = format_start(hour - timedelta(hours=5))
    expected_hours = {
        five_hours_ago: {**zero, "created": 1, "updated": 1, "total": 2},
        format_start(hour): {**zero, "completed": 1, "total": 1},
    }
    wait_for(lambda: totals(shared_worker, user, "24h") == expected_hours, what="the hourly series")
    assert totals(shared_worker, user, "30d") == by_day(events, since=day - timedelta(days=29))
    _, body = shared_worker.get(f"/activity/{user}/?range=30d")
    assert (len(body["series"]), body["bucket"], body["series"][-1]["start"]) == (
        30,
        "day",
        format_start(day),
    )


def test_a_redelivered_event_is_counted_once(
    shared_worker: Worker, module_topics: Topics, kafka_bootstrap: str
) -> None:
    user = f"activity-{uuid.uuid4().hex[:8]}"
    at = datetime.now(UTC) - timedelta(hours=2)
    done, later = event_at(user, "completed", at), event_at(user, "deleted", at)
    twice = [keyed(done, bare(done))] * 2 + [keyed(done, cloudevent(done, module_topics.events))]
    produce(kafka_bootstrap, module_topics.events, [*twice, keyed(later, bare(later))])

    expected = {"created": 0, "updated": 0, "completed": 1, "deleted": 1, "total": 2}
    bucket = format_start(at.replace(minute=0, second=0, microsecond=0))
    wait_for(lambda: totals(shared_worker, user, "24h") == {bucket: expected}, what="one of each")
    assert shared_worker.get(f"/counts/{user}/")[1]["total"] == 2


def test_an_unknown_range_is_a_422_naming_it(shared_worker: Worker) -> None:
    status, body = shared_worker.get("/activity/someone/?range=1y")
    assert status == 422
    assert "range" in body["error"]["fields"]
