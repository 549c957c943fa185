"""The worker benchmark's workload: users who own the tasks, their events, and the topic preloaded with them.

Events go to the topic through the relay's own Kafka publisher (web.outbox.publishers.kafka), so
each record is exactly what the relay writes: the CloudEvents envelope Dapr would write, keyed by
user_id.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence

import psycopg

from shared.events import EVENT_TYPES, TaskEvent, new_event
from shared.settings import load_settings
from web.outbox.publishers import Outgoing
from web.outbox.publishers.kafka import KafkaPublisher

# Each user's life in ten events: three tasks created, edited, two completed, one deleted
# (30% created, 40% updated, 20% completed, 10% deleted).
LIFE = ("created", "updated", "updated", "completed", "created", "updated", "completed", "deleted",
        "created", "updated")  # fmt: skip
PUBLISH_CHUNK = 5_000


def create_users(url: str, count: int) -> list[str]:
    """Insert `count` users who want completion mail; returns their ids."""
    ids = [str(uuid.uuid4()) for _ in range(count)]
    columns = "id, email, password_hash, email_notifications"
    with (
        psycopg.connect(url) as conn,
        conn.cursor() as cursor,
        cursor.copy(f"COPY users ({columns}) FROM STDIN") as copy,
    ):
        for number, user_id in enumerate(ids):
            copy.write_row((user_id, f"bench-{number}@example.com", "x", True))
    return ids


def task_events(users: Sequence[str], count: int) -> list[TaskEvent]:
    """`count` events, users taking turns, each user following LIFE with its own task ids."""
    events = []
    for i in range(count):
        user, step = i % len(users), i // len(users)
        kind = LIFE[step % len(LIFE)]
        task_id = user * 1_000_000 + step // 3
        events.append(
            new_event(
                event_type=kind,
                user_id=users[user],
                task_id=task_id,
                title=f"Task {task_id}: renew the passport",
                description="Forms are in the top drawer; bring two photos.",
                completed=kind == "completed",
            )
        )
    return events


def expected_counts(events: Sequence[TaskEvent]) -> dict[str, dict[str, object]]:
    """The counts body the worker must serve for each user once every event is counted."""
    per_user: dict[str, Counter[str]] = defaultdict(Counter)
    for event in events:
        per_user[event.user_id][event.event_type] += 1
    return {
        user: {"user_id": user, **{t: counts[t] for t in EVENT_TYPES}, "total": sum(counts.values())}
        for user, counts in per_user.items()
    }


def preload(bootstrap: str, topic: str, events: Sequence[TaskEvent]) -> None:
    """Publish the events to `topic` with the relay's publisher; fail if the broker refused any."""
    settings = load_settings({"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "TASK_EVENTS_TOPIC": topic})
    publisher = KafkaPublisher(settings=settings)
    try:
        for start in range(0, len(events), PUBLISH_CHUNK):
            chunk = events[start : start + PUBLISH_CHUNK]
            batch = [
                Outgoing(row_id=start + i, user_id=e.user_id, event=e.to_dict()) for i, e in enumerate(chunk)
            ]
            errors = [error for error in publisher.publish(batch) if error is not None]
            if errors:
                raise SystemExit(f"preload: {len(errors)} events refused, first: {errors[0]}")
    finally:
        publisher.close()
