"""The worker SIGKILLed three times during 20,000 events: each audited once, counts exact, every mail."""

from __future__ import annotations

import asyncio
import email
import os
import signal
import time
import uuid
from collections import Counter
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import Engine, func, select

from shared.events import EVENT_TYPES, TaskEvent, new_event
from shared.models import AuditLog, SentNotification
from tests.fixtures.kafka import Topics
from tests.fixtures.streams import MailSink, Worker, make_worker, wait_for
from tests.streams.conftest import add_user

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
USERS, PER_USER, KILLS = 50, 400, 3
CLAIM_TIMEOUT = "5"


def events_for(user_id: str) -> list[TaskEvent]:
    """PER_USER events of one user: every 100th completes a task, the rest create, update, delete."""
    kinds = ("created", "updated", "deleted")
    return [
        new_event(
            event_type="completed" if n % 100 == 99 else kinds[n % 3], user_id=user_id, task_id=n,
            title=f"task {n}", description="", completed=n % 100 == 99,
        )
        for n in range(PER_USER)
    ]  # fmt: skip


async def _produce(bootstrap: str, topic: str, events: list[TaskEvent]) -> None:
    """Send every event keyed by user (pipelined, not one round trip each) and wait for all acks."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        acks = [await producer.send(topic, e.to_json().encode(), key=e.user_id.encode()) for e in events]
        await asyncio.gather(*acks)
    finally:
        await producer.stop()


def audited(engine: Engine, users: list[str]) -> tuple[int, int]:
    """(rows, distinct event ids) in audit_log for these users."""
    with engine.connect() as conn:
        query = select(func.count(), func.count(func.distinct(AuditLog.event_id)))
        rows, distinct = conn.execute(query.where(AuditLog.user_id.in_(users))).one()
    return int(rows), int(distinct)


def mail_ids(sink_dir: Path, recipients: set[str]) -> list[str]:
    """The Message-IDs of every mail the sink saved for these recipients."""
    found = []
    for path in sink_dir.glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=default_policy)
        if message["To"] in recipients:
            found.append(str(message["Message-ID"]))
    return found


def expected_counts(user_id: str, events: list[TaskEvent]) -> dict[str, object]:
    """The counts a user's events must add up to."""
    kinds = Counter(e.event_type for e in events)
    return {"user_id": user_id, **{t: kinds[t] for t in EVENT_TYPES}, "total": len(events)}


def seconds(value: float) -> str:
    """A duration for the report."""
    return f"{value:.1f}s"


def wrong_counts(worker: Worker, by_user: dict[str, list[TaskEvent]]) -> dict[str, tuple[Any, Any]]:
    """Each user whose counts differ from what their events add up to: (expected, served)."""
    wrong: dict[str, tuple[Any, Any]] = {}
    for user, events in by_user.items():
        want, got = expected_counts(user, events), worker.get(f"/counts/{user}/")
        if got != (200, want):
            wrong[user] = (want, got)
    return wrong


def mail_diagnosis(engine: Engine, users: list[str], worker: Worker) -> str:
    """Where the missing mails stopped: their claims in sent_notifications, and what the worker last said."""
    with engine.connect() as conn:
        claims = conn.execute(
            select(SentNotification.sent_at.is_not(None), func.count())
            .where(SentNotification.user_id.in_(users))
            .group_by(SentNotification.sent_at.is_not(None))
        ).all()
    assert worker.process is not None
    os.kill(worker.process.pid, signal.SIGUSR1)  # streams/debugging.py: where each agent waits
    time.sleep(2)
    lines = [line for line in worker.log().splitlines() if "mail" in line.lower() or "suspended" in line]
    return f"claims (sent, count): {claims}; the worker's last lines:\n" + "\n".join(lines[-10:])


def test_three_sigkills_during_twenty_thousand_events(
    database_url: str,
    kafka_bootstrap: str,
    kafka_topics: Topics,
    mail_sink: MailSink,
    engine: Engine,
    tmp_path: Path,
) -> None:
    emails = {f"kill{n}-{uuid.uuid4().hex[:6]}@example.com": "" for n in range(USERS)}
    users = [add_user(engine, email=address) for address in emails]
    by_user = {user: events_for(user) for user in users}
    events = [event for n in range(PER_USER) for user in users for event in [by_user[user][n]]]
    completions = sum(1 for e in events if e.event_type == "completed")
    app_id = f"faults-kill-{uuid.uuid4().hex[:8]}"

    def start() -> Worker:
        """A worker in the test's consumer group (one record per producer batch: see test_cluster)."""
        return make_worker(
            database_url=database_url, bootstrap=kafka_bootstrap, topics=kafka_topics,
            smtp_port=mail_sink[0].port, directory=tmp_path, app_id=app_id,
            KAFKA_PRODUCER_MAX_BATCH_BYTES="1", MAIL_CLAIM_TIMEOUT_SECONDS=CLAIM_TIMEOUT,
        ).start()  # fmt: skip

    began = time.monotonic()
    worker = start()
    worker.wait_ready()
    asyncio.run(_produce(kafka_bootstrap, kafka_topics.events, events))
    recoveries: list[float] = []
    for kill in range(1, KILLS + 1):
        mark = len(events) * kill // (KILLS + 2)
        wait_for(lambda m=mark: audited(engine, users)[0] >= m, timeout=120, what=f"{mark} rows")
        worker.kill()
        at_kill, killed = audited(engine, users)[0], time.monotonic()
        assert at_kill < len(events), "the worker finished before its last kill; send more events"
        worker = start()
        wait_for(lambda n=at_kill: audited(engine, users)[0] > n, timeout=120, what="progress after kill")
        recoveries.append(time.monotonic() - killed)
    try:
        try:
            wait_for(lambda: audited(engine, users)[0] == len(events), timeout=180, what="all audited")
        except AssertionError as exc:
            last = worker.log().splitlines()[-20:]
            raise AssertionError(f"{audited(engine, users)} of {len(events)} audited; worker's last lines:\n"
                                 + "\n".join(last)) from exc  # fmt: skip
        try:
            wait_for(lambda: len(set(mail_ids(mail_sink[1].directory, set(emails)))) == completions,
                     timeout=120, interval=1, what="a mail for every completion")  # fmt: skip
        except AssertionError as exc:
            raise AssertionError(mail_diagnosis(engine, users, worker)) from exc
        counted = time.monotonic()
        while (wrong := wrong_counts(worker, by_user)) and time.monotonic() - counted < 60:
            time.sleep(1)
    finally:
        worker.stop()
    rows, distinct = audited(engine, users)
    ids = mail_ids(mail_sink[1].directory, set(emails))
    print(
        f"\nworker SIGKILLed {KILLS}x: sent {len(events)} events ({completions} completions) to"
        f" {USERS} users; found {rows} audit rows ({rows - distinct} duplicates), counts exact for"
        f" {USERS - len(wrong)} of {USERS} users, {len(set(ids))} distinct mails"
        f" ({len(ids) - len(set(ids))} repeats, same Message-ID); progress again"
        f" {', '.join(map(seconds, recoveries))} after each kill;"
        f" {time.monotonic() - began:.0f}s in all"
    )
    assert rows == distinct == len(events)
    assert len(set(ids)) == completions
    # A kill between the SMTP server's 250 and the sent mark can repeat that one mail, never more.
    assert len(ids) - len(set(ids)) <= KILLS
    assert not wrong, f"counts differ for {len(wrong)} users (expected, served): {wrong}"
