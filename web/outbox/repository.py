"""The relay's SQL: leadership, the pending queue, marking, pruning and the backlog figures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import (
    CTE,
    BigInteger,
    Connection,
    Integer,
    Select,
    String,
    Table,
    Text,
    Uuid,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.sql.dml import Update

from shared.db import SessionLike
from shared.models import OutboxEvent
from web.outbox.publishers.base import Outgoing

# Session advisory lock held by the one active relay ("todorela" as a 64-bit key).
RELAY_LOCK_KEY = 0x746F646F72656C61
# Channel a commit with events notifies (delivered only if the transaction commits).
CHANNEL = "outbox_pending"


@dataclass(frozen=True)
class Backlog:
    """Events still waiting: how many (capped) and how long the oldest has waited."""

    pending: int
    oldest_age: float


def insert_events(*, session: SessionLike, rows: list[dict[str, Any]]) -> None:
    """Stage outbox rows and the NOTIFY that wakes the relay at commit, in one statement (one round trip).

    PostgreSQL queues the NOTIFY until the transaction commits and folds a transaction's identical
    notifications into one, so RETURNING it per row costs nothing extra.
    """
    # Rows as execution parameters, not .values(rows): a statement carrying its values is compiled
    # afresh on every call (SQLAlchemy cannot cache it), which profiling showed on every create.
    table = cast(Table, OutboxEvent.__table__)
    session.execute(insert(table).returning(func.pg_notify(CHANNEL, "")), rows)


def event_insert_after(change: CTE) -> CTE:
    """The outbox row (and the NOTIFY) for the row the `change` CTE inserts, as a CTE of the same statement.

    Takes the parameters insert_events takes per row (event_id, user_id, event_type, payload); the
    payload's task_id, which only the change's INSERT knows, is set from its `id` by PostgreSQL. So a
    create is one round trip, not an INSERT for the task and a second for its event.
    """
    table = cast(Table, OutboxEvent.__table__)
    payload = func.jsonb_set(
        bindparam("payload", type_=JSONB), literal(["task_id"], ARRAY(Text)), func.to_jsonb(change.c.id)
    )
    event_id = bindparam("event_id", type_=Uuid)
    user_id, event_type = bindparam("user_id", type_=String), bindparam("event_type", type_=String)
    row = select(event_id, user_id, event_type, payload).select_from(change)
    columns = ["event_id", "user_id", "event_type", "payload"]
    return insert(table).from_select(columns, row).returning(func.pg_notify(CHANNEL, "")).cte("event")


def try_lead(*, conn: Connection) -> bool:
    """Take the relay lock for this connection's lifetime if nobody holds it, and listen for commits."""
    held = bool(conn.scalar(select(func.pg_try_advisory_lock(RELAY_LOCK_KEY))))
    if held:
        conn.execute(text(f"LISTEN {CHANNEL}"))
    conn.commit()
    return held


def _pending_statement() -> Select[tuple[int, str, dict[str, Any]]]:
    """The oldest `limit` unpublished, unparked rows in commit-id order."""
    return (
        select(OutboxEvent.id, OutboxEvent.user_id, OutboxEvent.payload)
        .where(OutboxEvent.published_at.is_(None), OutboxEvent.parked_at.is_(None))
        .order_by(OutboxEvent.id)
        .limit(bindparam("limit", type_=Integer))
    )


def _mark_statement() -> Update:
    """Mark the rows whose ids are in the array parameter `ids` published."""
    table = cast(Table, OutboxEvent.__table__)
    ids = bindparam("ids", type_=ARRAY(BigInteger))
    return (
        update(table)
        .where(table.c.id == func.any(ids))
        .values(published_at=func.now(), attempts=table.c.attempts + 1, last_error=None)
    )


# The relay runs these two every round. Built once with the ids as one array parameter: building
# them per round, and an IN list coerced element by element, was most of a round's own CPU time.
_PENDING = _pending_statement()
_MARK = _mark_statement()


def pending_batch(*, conn: Connection, limit: int) -> list[Outgoing]:
    """The oldest unpublished rows in commit-id order, parked ones left out."""
    rows = conn.execute(_PENDING, {"limit": limit})
    return [Outgoing(row_id=row_id, user_id=user_id, event=payload) for row_id, user_id, payload in rows]


def mark_published(*, conn: Connection, row_ids: list[int]) -> None:
    """Record the broker's acknowledgement of these rows."""
    if row_ids:
        conn.execute(_MARK, {"ids": row_ids})


def record_failures(*, conn: Connection, failures: dict[int, str], park: set[int]) -> None:
    """Count a failed attempt and keep its reason; park the rows in `park` (refused too often)."""
    if failures:
        stmt = (
            update(OutboxEvent)
            .where(OutboxEvent.id == bindparam("row_id"))
            .values(
                attempts=OutboxEvent.attempts + 1,
                last_error=bindparam("error"),
                parked_at=case((bindparam("park"), func.now()), else_=None),
            )
        )
        rows = [
            {"row_id": row_id, "error": error[:2000], "park": row_id in park}
            for row_id, error in failures.items()
        ]
        conn.execute(stmt, rows)


def prune_published(*, conn: Connection, older_than: timedelta, limit: int = 10_000) -> int:
    """Delete up to `limit` rows published longer ago than the retention period."""
    old = (
        select(OutboxEvent.id)
        .where(OutboxEvent.published_at < func.now() - older_than)
        .limit(limit)
        .scalar_subquery()
    )
    result = conn.execute(delete(OutboxEvent).where(OutboxEvent.id.in_(old)))
    return int(result.rowcount)


def backlog(*, session: SessionLike | Connection, cap: int) -> Backlog:
    """Pending count (counted up to cap + 1, so a huge backlog stays cheap) and the oldest's age."""
    unpublished = (OutboxEvent.published_at.is_(None), OutboxEvent.parked_at.is_(None))
    waiting = select(OutboxEvent.id).where(*unpublished).limit(cap + 1).subquery()
    pending = int(session.scalar(select(func.count()).select_from(waiting)) or 0)
    oldest = session.scalar(
        select(func.extract("epoch", func.now() - OutboxEvent.created_at))
        .where(*unpublished)
        .order_by(OutboxEvent.id)
        .limit(1)
    )
    return Backlog(pending=pending, oldest_age=round(float(oldest or 0.0), 3))


@dataclass(frozen=True)
class Parked:
    """An event the relay gave up on until an operator retries it."""

    row_id: int
    event_id: str
    user_id: str
    event_type: str
    attempts: int
    parked_at: str
    last_error: str


def parked_count(*, session: SessionLike | Connection) -> int:
    """How many events are parked."""
    return int(session.scalar(select(func.count()).where(OutboxEvent.parked_at.is_not(None))) or 0)


def parked_events(*, session: SessionLike, limit: int) -> list[Parked]:
    """The parked events, oldest first."""
    rows = session.execute(
        select(OutboxEvent).where(OutboxEvent.parked_at.is_not(None)).order_by(OutboxEvent.id).limit(limit)
    ).scalars()
    return [
        Parked(row.id, str(row.event_id), row.user_id, row.event_type, row.attempts,
               row.parked_at.isoformat() if row.parked_at else "", row.last_error or "")
        for row in rows
    ]  # fmt: skip


def unpark(*, session: SessionLike, row_ids: list[int] | None) -> list[int]:
    """Put parked events (these, or all when None) back in the queue with a fresh count of attempts."""
    stmt = update(OutboxEvent).where(OutboxEvent.parked_at.is_not(None))
    if row_ids is not None:
        stmt = stmt.where(OutboxEvent.id.in_(row_ids))
    result = session.execute(stmt.values(parked_at=None, attempts=0).returning(OutboxEvent.id))
    return sorted(int(row_id) for row_id in result.scalars())


def relay_leader_present(*, session: SessionLike | Connection) -> bool:
    """Whether any session holds the relay lock (a bigint advisory key is split into classid/objid)."""
    held = session.scalar(
        text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND classid = :high AND objid = :low AND objsubid = 1"
        ),
        {"high": RELAY_LOCK_KEY >> 32, "low": RELAY_LOCK_KEY & 0xFFFFFFFF},
    )
    return bool(held)
