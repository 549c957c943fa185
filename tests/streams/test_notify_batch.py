"""A batch of completions mailed with a few statements and one SMTP connection, against real PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import email
import uuid
from datetime import UTC, datetime
from email.policy import default as default_policy
from pathlib import Path

from aiosmtpd.controller import Controller
from sqlalchemy import Connection, Engine, event, func, insert, select

from devstack.kafka import free_port
from shared.events import TaskEvent, new_event
from shared.models import SentNotification
from shared.settings import Settings
from streams.notifications.service import notify_batch
from streams.topics import completions
from tests.streams.conftest import add_user
from tests.streams.helpers import agent_event, bare
from tests.streams.test_mailer import CountingSink


def completed(user_id: str, task_id: int) -> TaskEvent:
    return new_event(
        event_type="completed",
        user_id=user_id,
        task_id=task_id,
        title=f"T{task_id}",
        description="",
        completed=True,
    )


def recipients_of(sink: CountingSink) -> list[str]:
    return sorted(
        str(email.message_from_bytes(path.read_bytes(), policy=default_policy)["To"])
        for path in sink.messages()
    )


def test_a_batch_mails_each_due_completion_once_over_one_connection(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    keen = add_user(engine, email="keen@example.com")
    quiet = add_user(engine, email="quiet@example.com", notifications=False)
    busy = add_user(engine, email="busy@example.com")
    with engine.begin() as conn:  # busy had one mail this hour already, of a cap of two
        conn.execute(
            insert(SentNotification).values(
                event_id=uuid.uuid4(), user_id=busy, task_id=9, recipient="busy@example.com",
                claimed_at=datetime.now(UTC), sent_at=datetime.now(UTC),
            )
        )  # fmt: skip
    twice = completed(keen, 1)
    events = [
        twice, completed(keen, 2), twice,  # the same event published twice: mailed once
        new_event(event_type="updated", user_id=keen, task_id=3, title="u", description="", completed=False),
        completed(quiet, 4),  # opted out
        completed(busy, 5), completed(busy, 6),  # only one more fits under the cap
        completed(str(uuid.uuid4()), 7),  # no such account
    ]  # fmt: skip
    batch = [agent_event(completions.get_topic_name(), bare(e), offset=n) for n, e in enumerate(events)]
    port = free_port()
    sink = CountingSink(tmp_path)
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    capped = dataclasses.replace(settings, smtp_port=port, mail_rate_limit_per_hour=2)
    try:
        asyncio.run(notify_batch(batch, settings=capped))
        assert recipients_of(sink) == ["busy@example.com", "keen@example.com", "keen@example.com"]
        assert sink.greetings == 1, "one SMTP connection for the batch"
        asyncio.run(notify_batch(batch, settings=capped))  # redelivered: every mail is settled already
    finally:
        controller.stop()
    assert len(sink.messages()) == 3
    with engine.connect() as conn:
        sent = conn.scalar(
            select(func.count()).where(SentNotification.sent_at.is_not(None), SentNotification.task_id < 9)
        )
    assert sent == 3


def test_each_mail_of_a_batch_costs_one_commit_its_mark_riding_on_the_next_claim(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    keen = add_user(engine, email="keen@example.com")
    events = [completed(keen, task_id) for task_id in range(1, 6)]
    batch = [agent_event(completions.get_topic_name(), bare(e), offset=n) for n, e in enumerate(events)]
    port = free_port()
    controller = Controller(CountingSink(tmp_path), hostname="127.0.0.1", port=port)
    controller.start()
    commits: list[object] = []

    def count(conn: Connection) -> None:
        commits.append(conn)

    def count_alone(conn: Connection, *_: object) -> None:
        """A statement run in autocommit is a transaction (and a commit) of its own."""
        if conn.connection.driver_connection.autocommit:  # type: ignore[union-attr]
            commits.append(conn)

    event.listen(Engine, "commit", count)
    event.listen(Engine, "before_cursor_execute", count_alone)
    try:
        asyncio.run(notify_batch(batch, settings=dataclasses.replace(settings, smtp_port=port)))
    finally:
        event.remove(Engine, "commit", count)
        event.remove(Engine, "before_cursor_execute", count_alone)
        controller.stop()
    # Two reads for the batch (recipients, allowances), a claim per mail (marking the one before
    # sent), and the last mail's mark: 5 + 3, where claim and mark apart took 5 * 2 + 2.
    assert len(commits) == len(events) + 3
    with engine.connect() as conn:
        sent = conn.scalar(select(func.count()).where(SentNotification.sent_at.is_not(None)))
    assert sent == len(events)
