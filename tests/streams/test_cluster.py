"""Workers coming and going: a shared consumer group, a SIGKILL mid-stream, a rocksdb restart."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from devstack.mailsink import SaveToDirectory
from shared.events import EVENT_TYPES, TaskEvent, new_event
from shared.models import AuditLog, SentNotification
from tests.fixtures.kafka import Topics
from tests.fixtures.streams import Worker, make_worker, wait_for
from tests.streams.conftest import add_user
from tests.streams.helpers import bare, cloudevent, keyed, produce
from web.audit.verify import verify_trail

pytestmark = pytest.mark.slow


def events_for(users: list[str], per_user: int) -> list[TaskEvent]:
    """per_user events for each user, cycling through the event types."""
    return [
        new_event(
            event_type=EVENT_TYPES[i % 4], user_id=u, task_id=i, title="t", description="", completed=False
        )
        for u in users
        for i in range(per_user)
    ]


def expected_counts(user_id: str, per_user: int) -> dict[str, object]:
    """The counts events_for produces for one user."""
    counts = {t: sum(1 for i in range(per_user) if EVENT_TYPES[i % 4] == t) for t in EVENT_TYPES}
    return {"user_id": user_id, **counts, "total": per_user}


def activity_totals(worker: Worker, user_id: str) -> dict[str, object] | None:
    """The user's last 24 hours of activity summed per type, in the counts' shape (None if no answer)."""
    status, body = worker.get(f"/activity/{user_id}/?range=24h")
    if status != 200:
        return None
    return {"user_id": user_id, **{k: sum(p[k] for p in body["series"]) for k in (*EVENT_TYPES, "total")}}


def sent_count(engine: Engine) -> int:
    """Rows in sent_notifications."""
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(SentNotification)) or 0)


def audit_count(engine: Engine) -> int:
    """Rows in audit_log."""
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(AuditLog)) or 0)


def missing_diagnosis(engine: Engine, events: list[TaskEvent], worker: Worker) -> str:
    """Which events (by position in the stream) the audit trail lacks, and what the worker said."""
    with engine.connect() as conn:
        audited = {str(event_id) for event_id in conn.scalars(select(AuditLog.event_id))}
    missing = [n for n, e in enumerate(events) if str(e.event_id) not in audited]
    lines = worker.log().splitlines()
    complaints = [line for line in lines if "WARNING" in line or "ERROR" in line]
    return (
        f"{len(missing)} of {len(events)} events never audited, at stream positions"
        f" {missing[:3]}..{missing[-3:]}; the worker's /ready/: {worker.get('/ready/')};"
        f" its last warnings:\n"
        + "\n".join(complaints[-15:])
        + "\nits last lines:\n"
        + "\n".join(lines[-15:])
    )


@pytest.fixture
def new_worker(
    database_url: str,
    kafka_bootstrap: str,
    kafka_topics: Topics,
    mail_sink: tuple[Controller, SaveToDirectory],
    tmp_path: Path,
):  # type: ignore[no-untyped-def]
    """A factory of workers for this test's topics; every one started is stopped at the end."""
    started: list[Worker] = []
    app_id = f"test-cluster-{uuid.uuid4().hex[:8]}"

    def factory(**extra: str) -> Worker:
        worker = make_worker(
            database_url=database_url,
            bootstrap=kafka_bootstrap,
            topics=kafka_topics,
            smtp_port=mail_sink[0].port,
            directory=tmp_path,
            app_id=app_id,
            **extra,
        )
        started.append(worker)
        return worker.start()

    yield factory
    for worker in started:
        worker.kill()


def test_two_workers_split_partitions_and_both_answer_for_every_user(
    new_worker, kafka_bootstrap: str, kafka_topics: Topics, engine: Engine
) -> None:  # type: ignore[no-untyped-def]
    first = new_worker()
    first.wait_ready()
    second = new_worker()
    second.wait_ready()
    wait_for(
        lambda: first.get("/ready/")[0] == 200 and len(first.partitions()) + len(second.partitions()) == 6,
        timeout=40,
        what="the group to settle on two members",
    )
    assert sorted(first.partitions() + second.partitions()) == list(range(6))
    assert first.partitions()
    assert second.partitions()

    users = [f"user-{i}" for i in range(12)]
    events = events_for(users, 5)
    produce(
        kafka_bootstrap, kafka_topics.events, [keyed(e, cloudevent(e, kafka_topics.events)) for e in events]
    )
    wait_for(lambda: audit_count(engine) == len(events), what="all events audited")
    for user in users:
        for worker in (first, second):
            wait_for(
                lambda w=worker, u=user: w.get(f"/counts/{u}/") == (200, expected_counts(u, 5)), timeout=10
            )
            wait_for(lambda w=worker, u=user: activity_totals(w, u) == expected_counts(u, 5), timeout=10)


def test_worker_killed_mid_stream_loses_and_duplicates_nothing(
    new_worker,
    kafka_bootstrap: str,
    kafka_topics: Topics,
    engine: Engine,
    mail_sink: tuple[Controller, SaveToDirectory],
) -> None:  # type: ignore[no-untyped-def]
    user = add_user(engine, email="crash@example.com")
    events = events_for([user], 1600)
    # One record per producer batch so the second worker's changelog recovery is complete on Tansu
    # (see the rocksdb test below).
    # One user completes 400 tasks here: lift the per-user hourly mail cap (30 by default) above that.
    uncapped = {"MAIL_RATE_LIMIT_PER_HOUR": "1000"}
    first = new_worker(AUDIT_BATCH_SIZE="50", KAFKA_PRODUCER_MAX_BATCH_BYTES="1", **uncapped)
    first.wait_ready()
    produce(kafka_bootstrap, kafka_topics.events, [keyed(e, bare(e)) for e in events])
    wait_for(lambda: audit_count(engine) > 300, what="the first worker to be mid-stream")
    first.kill()
    assert audit_count(engine) < len(events), (
        "the worker finished before it was killed; make the stream longer"
    )

    second = new_worker(KAFKA_PRODUCER_MAX_BATCH_BYTES="1", **uncapped)
    second.wait_ready()
    try:
        wait_for(lambda: audit_count(engine) == len(events), timeout=60, what="every event audited")
    except AssertionError as exc:
        raise AssertionError(missing_diagnosis(engine, events, second)) from exc
    with engine.connect() as conn:
        assert conn.scalar(select(func.count(func.distinct(AuditLog.event_id)))) == len(events)
    wait_for(lambda: second.get(f"/counts/{user}/") == (200, expected_counts(user, len(events))), timeout=30)
    # The replayed updates land in hours that already counted them: skipped by offset, not added again.
    wait_for(lambda: activity_totals(second, user) == expected_counts(user, len(events)), timeout=30)
    completions = sum(1 for e in events if e.event_type == "completed")
    wait_for(lambda: sent_count(engine) == completions, timeout=60, what="every completion claimed")

    def mails() -> int:
        return sum(1 for p in mail_sink[1].messages() if b"crash@example.com" in p.read_bytes())

    # At most once: every claim mailed once, except possibly the one in flight at the kill.
    wait_for(lambda: mails() >= completions - 1, timeout=30, what="the mails")
    assert mails() in (completions, completions - 1)


def test_rocksdb_worker_serves_the_same_counts_after_restart(
    new_worker, kafka_bootstrap: str, kafka_topics: Topics, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    users = ["rocks-a", "rocks-b", "rocks-c"]
    events = events_for(users, 6)
    data_dir = str(tmp_path / "rocks")
    # One record per producer batch: Tansu answers ListOffsets(latest) with the last batch's base
    # offset + 1 (4 records at offsets 0-3 -> end offset 1), so recovery would stop short of a batch.
    rocks = {"TABLE_STORE": "rocksdb://", "KAFKA_PRODUCER_MAX_BATCH_BYTES": "1"}
    worker = new_worker(**rocks, WORKER_DATA_DIR=data_dir)
    worker.wait_ready()
    produce(kafka_bootstrap, kafka_topics.events, [keyed(e, bare(e)) for e in events])
    for user in users:
        wait_for(lambda u=user: worker.get(f"/counts/{u}/") == (200, expected_counts(u, 6)), what="counts")
    worker.stop()
    assert list((tmp_path / "rocks").rglob("*.sst")) or list((tmp_path / "rocks").rglob("CURRENT"))

    # A fresh data directory, as for a pod rescheduled without its volume: the counts must come back
    # from the changelog alone.
    again = new_worker(**rocks, WORKER_DATA_DIR=str(tmp_path / "rocks-again"))
    again.wait_ready()
    for user in users:
        assert again.get(f"/counts/{user}/") == (200, expected_counts(user, 6))
        assert activity_totals(again, user) == expected_counts(user, 6)


def test_audit_chains_hold_across_a_rebalance_a_kill_and_a_replay(
    new_worker, kafka_bootstrap: str, kafka_topics: Topics, engine: Engine
) -> None:  # type: ignore[no-untyped-def]
    users = [f"chain-{n}" for n in range(8)]
    events = events_for(users, 150)
    first_half = [e for e in events if e.task_id < 75]
    second_half = [e for e in events if e.task_id >= 75]
    # One record per producer batch, so the counts table's changelog recovers on Tansu (see above).
    one_record = {"AUDIT_BATCH_SIZE": "20", "KAFKA_PRODUCER_MAX_BATCH_BYTES": "1"}
    first = new_worker(**one_record)
    first.wait_ready()
    produce(kafka_bootstrap, kafka_topics.events, [keyed(e, bare(e)) for e in first_half])
    wait_for(lambda: audit_count(engine) > 100, what="the first worker to be mid-stream")
    # A second member joins (rebalance) while the first is writing, then the first dies unclean:
    # its uncommitted batches are redelivered to the second.
    second = new_worker(**one_record)
    second.wait_ready()
    produce(kafka_bootstrap, kafka_topics.events, [keyed(e, bare(e)) for e in second_half])
    first.kill()
    wait_for(lambda: audit_count(engine) == len(events), timeout=90, what="every event audited")
    # A replay: every event again, then one new event per user, which arrives after its replayed ones.
    last = [
        new_event(event_type="updated", user_id=u, task_id=150, title="t", description="", completed=False)
        for u in users
    ]
    produce(kafka_bootstrap, kafka_topics.events, [keyed(e, bare(e)) for e in [*events, *last]])
    wait_for(lambda: audit_count(engine) == len(events) + len(users), timeout=90, what="the replay")

    with Session(engine) as session:
        assert verify_trail(session=session).to_json() == {"intact": True, "rows": len(events) + len(users)}
        stored = session.execute(select(AuditLog.user_id, AuditLog.event_id).order_by(AuditLog.id)).all()
    for user in users:
        produced = [e.event_id for e in [*events, *last] if e.user_id == user]
        assert [event_id for owner, event_id in stored if owner == user] == produced
