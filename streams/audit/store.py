"""The audit_log SQL: each batch hash-chained per user, COPYed into a staging table, then one INSERT.

COPY is PostgreSQL's fastest ingestion path (measured in bench/audit_ingest.py against the
per-event INSERT+COMMIT and against an unnest() multi-row insert, which reached only ~0.5x of it).
The staging table is a per-connection temp table emptied at every commit, so batches never see
each other's rows.

The chain (shared.audit_chain) is computed here in Python, inside the inserting transaction:
1. lock the batch's users (transaction advisory locks, in key order so two workers cannot
   deadlock), so whoever else writes a user's chain (the partition's previous owner finishing a
   batch during a rebalance, a replay) waits for this commit or this for theirs;
2. read, after the lock, each user's head (the hash of its newest row);
3. chain the batch in order and insert it in that order (so ids follow each user's chain), with
   ON CONFLICT DO NOTHING inside a savepoint. If every row went in, done. If not, some events were
   stored already (a redelivery, a replay, a duplicate inside the batch) and the chain counted
   them: roll back to the savepoint, keep only the events not stored, chain and insert again.
That second INSERT has no ON CONFLICT: with the users locked a conflict can only be another
user's row carrying the same event_id; it fails the batch (IntegrityError), the agent retries row
by row and the duplicate is then skipped, instead of silently dropping a row the chain counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session, sessionmaker

from shared.audit_chain import GENESIS, event_row, link_hash
from shared.db import transaction
from shared.events import TaskEvent

COLUMNS = "event_id, event_type, user_id, task_id, event_data, timestamp, prev_hash, hash"
# Namespace of the two-key advisory locks on users' chains ("audt"); one-key locks never collide.
CHAIN_LOCK_SPACE = 0x61756474

# No id column and no defaults: staging rows must not draw from audit_log's id sequence.
CREATE_STAGE = """
    CREATE TEMP TABLE IF NOT EXISTS audit_stage (
        ord integer, event_id uuid, event_type text, user_id text, task_id bigint,
        event_data jsonb, timestamp timestamptz, prev_hash bytea, hash bytea
    ) ON COMMIT DELETE ROWS
"""
COPY_STAGE = f"COPY audit_stage (ord, {COLUMNS}) FROM STDIN"
# Empty already at a transaction's start; emptied again so one transaction may append several batches.
CLEAR_STAGE = "DELETE FROM audit_stage"
# "SET LOCAL" silences the "already exists" notice of every batch after a connection's first.
PREPARE_STAGE = f"SET LOCAL client_min_messages = warning; {CREATE_STAGE}; {CLEAR_STAGE}"
# ORDER BY keeps the batch's order in audit_log ids (a user's ids follow its chain).
INSERT_FROM_STAGE = f"INSERT INTO audit_log ({COLUMNS}) SELECT {COLUMNS} FROM audit_stage ORDER BY ord"  # noqa: S608
INSERT_IF_NEW = INSERT_FROM_STAGE + " ON CONFLICT (event_id) DO NOTHING"
LOCK_USERS = text(
    "SELECT count(pg_advisory_xact_lock(:space, k)) FROM "
    "(SELECT DISTINCT hashtext(u) AS k FROM unnest(CAST(:users AS text[])) AS u ORDER BY k) AS keys"
)
HEADS = text(
    "SELECT u, h.hash FROM unnest(CAST(:users AS text[])) AS u CROSS JOIN LATERAL "
    "(SELECT hash FROM audit_log WHERE user_id = u ORDER BY id DESC LIMIT 1) AS h"
)
STORED = text("SELECT event_id FROM audit_log WHERE event_id = ANY(CAST(:ids AS uuid[]))")


def chain_rows(events: Sequence[TaskEvent], heads: dict[str, bytes]) -> list[tuple[Any, ...]]:
    """Staging rows for the events in order, each linked to its user's head; moves the heads on."""
    rows = []
    for position, event in enumerate(events):
        event_data, document = event_row(event)
        prev = heads.get(event.user_id, GENESIS)
        heads[event.user_id] = digest = link_hash(prev, document)
        rows.append(
            (
                position,
                event.event_id,
                event.event_type,
                event.user_id,
                event.task_id,
                event_data.decode("ascii"),
                event.timestamp,
                prev,
                digest,
            )
        )
    return rows


def _new_events(conn: Connection, events: Sequence[TaskEvent]) -> list[TaskEvent]:
    """The events not stored yet, first occurrence only, in batch order."""
    ids = sorted({str(event.event_id) for event in events})
    seen = {str(event_id) for event_id in conn.execute(STORED, {"ids": ids}).scalars()}
    fresh = []
    for event in events:
        key = str(event.event_id)
        if key not in seen:
            seen.add(key)
            fresh.append(event)
    return fresh


def _lock_and_read_heads(conn: Connection, users: list[str]) -> dict[str, bytes]:
    """Lock the users' chains for this transaction, then read their newest hashes."""
    conn.execute(LOCK_USERS, {"space": CHAIN_LOCK_SPACE, "users": users})
    # A new statement, so its snapshot includes whatever the lock just waited for.
    return {user: bytes(head) for user, head in conn.execute(HEADS, {"users": users})}


def _stage_and_insert(conn: Connection, rows: list[tuple[Any, ...]], insert: str) -> int:
    """COPY the rows into the stage, then insert them into audit_log in order; returns how many went in."""
    # The psycopg connection under SQLAlchemy's, for COPY (which SQLAlchemy does not wrap).
    raw = conn.connection.driver_connection
    with raw.cursor() as cursor:  # type: ignore[union-attr]
        # One round trip for the three (no parameters, so psycopg sends them as one query): every
        # round trip is the inserting thread taking the GIL back from a busy event loop.
        cursor.execute(PREPARE_STAGE)
        with cursor.copy(COPY_STAGE) as copy:
            for row in rows:
                copy.write_row(row)
    return int(conn.execute(text(insert)).rowcount)


def append_chained(conn: Connection, events: Sequence[TaskEvent]) -> int:
    """Chain and insert the new events' rows in the caller's transaction; returns how many were new."""
    heads = _lock_and_read_heads(conn, sorted({event.user_id for event in events}))
    # Optimistic first: a batch is almost always all new. If any row was already stored (a
    # redelivery), the chain just computed counted it: undo, keep only the new events, chain again.
    attempt = conn.begin_nested()
    if _stage_and_insert(conn, chain_rows(events, dict(heads)), INSERT_IF_NEW) == len(events):
        attempt.commit()
        return len(events)
    attempt.rollback()
    fresh = _new_events(conn, events)
    return _stage_and_insert(conn, chain_rows(fresh, heads), INSERT_FROM_STAGE) if fresh else 0


def insert_audit_rows(*, sessions: sessionmaker[Session], events: Sequence[TaskEvent]) -> int:
    """Insert the events' audit rows, chained, in one committed transaction; returns how many were new."""
    if not events:
        return 0
    with transaction(sessions) as session:
        return append_chained(session.connection(), events)
