"""The relay's per-round statements on real PostgreSQL: which rows a round reads, which it marks."""

from __future__ import annotations

from sqlalchemy import Engine, text

from shared.db import make_sessionmaker
from shared.events import new_event
from web.outbox.repository import mark_published, pending_batch
from web.outbox.store import commit_with_events


def _outbox_ids(engine: Engine, count: int) -> list[int]:
    """Commit `count` events (two users, alternating) and return their outbox ids in commit order."""
    with make_sessionmaker(engine)() as session:
        events = [
            new_event(event_type="created", user_id=f"user-{n % 2}", task_id=n, title=f"t{n}",
                      description="", completed=False)
            for n in range(count)
        ]  # fmt: skip
        commit_with_events(session=session, events=events)
    with engine.connect() as conn:
        return list(conn.scalars(text("SELECT id FROM outbox ORDER BY id")))


def test_a_round_reads_the_oldest_unpublished_unparked_rows_up_to_its_limit(engine: Engine) -> None:
    """Published and parked rows are skipped; the rest come oldest first, `limit` at most."""
    ids = _outbox_ids(engine, 8)
    with engine.begin() as conn:
        conn.execute(text("UPDATE outbox SET published_at = now() WHERE id = :id"), {"id": ids[0]})
        conn.execute(text("UPDATE outbox SET parked_at = now() WHERE id = :id"), {"id": ids[2]})
        first = pending_batch(conn=conn, limit=3)
        every = pending_batch(conn=conn, limit=500)
    assert [item.row_id for item in first] == [ids[1], ids[3], ids[4]]
    assert [item.row_id for item in every] == [ids[1], *ids[3:]]
    assert [item.user_id for item in first] == ["user-1", "user-1", "user-0"]
    assert first[0].event["task_id"] == 1


def test_marking_touches_exactly_the_acked_rows(engine: Engine) -> None:
    """The acked ids get published_at, one more attempt and no error; every other row is left alone."""
    ids = _outbox_ids(engine, 6)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE outbox SET last_error = 'boom', attempts = 2 WHERE id = :id"), {"id": ids[3]}
        )
        mark_published(conn=conn, row_ids=[ids[1], ids[3]])
        mark_published(conn=conn, row_ids=[])
        rows = conn.execute(
            text("SELECT id, published_at IS NOT NULL, attempts, last_error FROM outbox ORDER BY id")
        )
        state = {row_id: (published, attempts, error) for row_id, published, attempts, error in rows}
    assert state[ids[1]] == (True, 1, None)
    assert state[ids[3]] == (True, 3, None)
    assert all(state[row_id] == (False, 0, None) for row_id in ids if row_id not in (ids[1], ids[3]))
