"""The audit insert: one statement per batch, hash-chained per user, idempotent under redelivery."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from shared.audit_chain import GENESIS, event_document, link_hash, row_document
from shared.db import make_sessionmaker
from shared.events import TaskEvent, new_event
from shared.models import AuditLog
from streams.audit.store import insert_audit_rows
from web.audit.verify import Verdict, verify_trail


def events_for(users: Sequence[str], count: int, title: str = "t") -> list[TaskEvent]:
    """count events, round-robin over the users (so their rows interleave in audit_log)."""
    return [
        new_event(
            event_type="created",
            user_id=users[i % len(users)],
            task_id=i,
            title=f"{title}{i}",
            description="",
            completed=False,
        )
        for i in range(count)
    ]


def chains(engine: Engine) -> dict[str, list[AuditLog]]:
    """Every user's rows in id order."""
    with Session(engine) as session:
        rows = session.scalars(select(AuditLog).order_by(AuditLog.user_id, AuditLog.id)).all()
    by_user: dict[str, list[AuditLog]] = {}
    for row in rows:
        by_user.setdefault(row.user_id, []).append(row)
    return by_user


def verdict(engine: Engine) -> Verdict:
    """The verifier's report on the whole table."""
    with Session(engine) as session:
        return verify_trail(session=session)


def test_batch_insert_is_idempotent_and_exact(engine: Engine) -> None:
    events = events_for(["u"], 5)
    sessions = make_sessionmaker(engine)
    assert insert_audit_rows(sessions=sessions, events=[*events, events[0]]) == 5
    assert insert_audit_rows(sessions=sessions, events=events) == 0
    assert insert_audit_rows(sessions=sessions, events=[]) == 0
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(AuditLog)) == 5
        row = conn.execute(select(AuditLog).where(AuditLog.event_id == events[3].event_id)).one()
    assert (row.event_type, row.user_id, row.task_id, row.timestamp) == (
        "created",
        "u",
        3,
        events[3].timestamp,
    )
    assert row.event_data == events[3].to_dict()


def test_a_stored_row_reads_back_to_the_exact_bytes_that_were_hashed(engine: Engine) -> None:
    event = new_event(
        event_type="updated",
        user_id="u-\u00e9",
        task_id=7,
        title='Caf\u00e9 \u2615 "quoted" \\ back',
        description="line\nbreak\ttab \U0001f600",
        completed=True,
    )
    insert_audit_rows(sessions=make_sessionmaker(engine), events=[event])
    (row,) = chains(engine)["u-\u00e9"]
    stored = row_document(
        event_id=row.event_id,
        event_type=row.event_type,
        user_id=row.user_id,
        task_id=row.task_id,
        timestamp=row.timestamp,
        event_data=row.event_data,
    )
    assert stored == event_document(event)
    assert (row.prev_hash, row.hash) == (GENESIS, link_hash(GENESIS, stored))


def test_each_user_chain_links_from_genesis_across_batches(engine: Engine) -> None:
    sessions = make_sessionmaker(engine)
    events = events_for(["alice", "bob", "carol"], 30)
    for start in range(0, 30, 7):
        insert_audit_rows(sessions=sessions, events=events[start : start + 7])
    by_user = chains(engine)
    assert sorted(by_user) == ["alice", "bob", "carol"]
    for rows in by_user.values():
        assert len(rows) == 10
        assert rows[0].prev_hash == GENESIS
        for before, after in itertools.pairwise(rows):
            assert after.prev_hash == before.hash
    assert [r.task_id for r in by_user["alice"]] == list(range(0, 30, 3))
    assert verdict(engine) == Verdict(rows=30, broken=None)


def test_redelivered_events_neither_extend_nor_fork_a_chain(engine: Engine) -> None:
    sessions = make_sessionmaker(engine)
    first, second = events_for(["u", "v"], 6, "a"), events_for(["u", "v"], 6, "b")
    assert insert_audit_rows(sessions=sessions, events=first) == 6
    head = {user: rows[-1].hash for user, rows in chains(engine).items()}
    # A replay from an earlier offset: old events again, interleaved with new ones and duplicated.
    replayed = [first[0], second[0], first[3], second[1], second[0], *second[2:], *first]
    assert insert_audit_rows(sessions=sessions, events=replayed) == 6
    by_user = chains(engine)
    assert by_user["u"][3].prev_hash == head["u"]
    assert by_user["v"][3].prev_hash == head["v"]
    assert [r.event_id for r in by_user["u"]] == [e.event_id for e in [*first, *second] if e.user_id == "u"]
    assert verdict(engine) == Verdict(rows=12, broken=None)


def test_two_workers_writing_the_same_users_at_once_keep_one_chain_each(engine: Engine) -> None:
    # During a rebalance the partition's old owner may still commit a batch while the new owner
    # commits the next: different events of the same users, at the same moment.
    users = [f"user-{n}" for n in range(5)]
    batches = {name: events_for(users, 200, name) for name in ("old-owner", "new-owner")}
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def write(events: list[TaskEvent]) -> None:
        sessions = make_sessionmaker(engine)
        start.wait()
        try:
            for i in range(0, len(events), 10):
                insert_audit_rows(sessions=sessions, events=events[i : i + 10])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(events,)) for events in batches.values()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert verdict(engine) == Verdict(rows=400, broken=None)
    assert all(len(rows) == 80 for rows in chains(engine).values())
