"""Every audit query: keyset pages on (timestamp, id), export chunks, task history, live rows, counts.

All reads are bounded by user_id first, so each one walks one of the audit_log indexes
(user_id, timestamp, id), (user_id, event_type, timestamp, id) or (task_id, timestamp, id);
a text search for a rare word starts from the trigram index over title and description instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    String,
    bindparam,
    func,
    literal_column,
    or_,
    select,
    tuple_,
)

from shared.counts import counts_from
from shared.db import SessionLike
from shared.events import EVENT_TYPES
from shared.models import AUDIT_SEARCH_FIELDS, AuditLog
from web.audit.schemas import AuditQuery, Cursor

COLUMNS = (
    AuditLog.id,
    AuditLog.event_id,
    AuditLog.event_type,
    AuditLog.user_id,
    AuditLog.task_id,
    AuditLog.event_data,
    AuditLog.timestamp,
)
EXPORT_CHUNK = 1000
LIVE_MAX = 200


@dataclass(frozen=True)
class Page:
    """One page of rows in display order, and the keyset positions either side of it."""

    rows: list[Row[Any]]
    next_cursor: Cursor | None
    prev_cursor: Cursor | None


def _escape_like(text: str) -> str:
    """Make user text literal inside a LIKE pattern."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filters(*, user_id: str, query: AuditQuery) -> list[ColumnElement[bool]]:
    """The WHERE clauses of a query, user_id first."""
    clauses: list[ColumnElement[bool]] = [AuditLog.user_id == user_id]
    if len(query.event_types) == 1:
        clauses.append(AuditLog.event_type == query.event_types[0])
    elif query.event_types and len(query.event_types) < len(EVENT_TYPES):
        clauses.append(AuditLog.event_type.in_(query.event_types))
    if query.task_id is not None:
        clauses.append(AuditLog.task_id == query.task_id)
    if query.since is not None:
        clauses.append(AuditLog.timestamp >= query.since)
    if query.until is not None:
        clauses.append(AuditLog.timestamp < query.until)
    if query.q:
        pattern = bindparam("search_pattern", f"%{_escape_like(query.q)}%", String, literal_execute=True)
        # The index expressions verbatim, so a rare word starts from ix_audit_log_search_*.
        fields = [literal_column(sql, String) for sql in AUDIT_SEARCH_FIELDS.values()]
        clauses.append(or_(*(field.ilike(pattern, escape="\\") for field in fields)))
    return clauses


def _after(position: Cursor, *, descending: bool) -> ColumnElement[bool]:
    """Rows strictly beyond `position` in the walking direction (a row comparison the index serves)."""
    key = tuple_(AuditLog.timestamp, AuditLog.id)
    bound = tuple_(position.timestamp, position.id)
    return key < bound if descending else key > bound


def events_statement(*, user_id: str, query: AuditQuery, extra: int = 1) -> Select[Any]:
    """The SELECT for one page: filters, keyset position, order, and `limit + extra` rows."""
    cursor = query.cursor
    # A "prev" cursor walks back toward newer (or, ascending, older) rows: flip the order, then the rows.
    walk_descending = query.descending != (cursor is not None and cursor.direction == "prev")
    stmt = select(*COLUMNS).where(*_filters(user_id=user_id, query=query))
    if cursor is not None:
        stmt = stmt.where(_after(cursor, descending=walk_descending))
    order = (
        (AuditLog.timestamp.desc(), AuditLog.id.desc())
        if walk_descending
        else (AuditLog.timestamp, AuditLog.id)
    )
    return stmt.order_by(*order).limit(query.limit + extra)


def _position(row: Row[Any], query: AuditQuery, direction: str) -> Cursor:
    """The cursor that continues from `row`."""
    return Cursor(timestamp=row.timestamp, id=row.id, sort=query.sort, direction=direction)


def list_events(*, session: SessionLike, user_id: str, query: AuditQuery) -> Page:
    """One page of the user's trail in the asked order, with cursors to the pages after and before it."""
    fetched = list(session.execute(events_statement(user_id=user_id, query=query)))
    more = len(fetched) > query.limit
    rows = fetched[: query.limit]
    backwards = query.cursor is not None and query.cursor.direction == "prev"
    if backwards:
        rows.reverse()
    if not rows:
        return Page(rows=[], next_cursor=None, prev_cursor=None)
    has_next = more if not backwards else True
    has_prev = query.cursor is not None and (more if backwards else True)
    return Page(
        rows=rows,
        next_cursor=_position(rows[-1], query, "next") if has_next else None,
        prev_cursor=_position(rows[0], query, "prev") if has_prev else None,
    )


def iter_events(
    *, session: SessionLike, user_id: str, query: AuditQuery, chunk: int | None = None
) -> Iterator[Row[Any]]:
    """Every matching row in order, read in keyset chunks so memory stays flat whatever the total."""
    chunk = chunk or EXPORT_CHUNK
    position = query.first_page()
    while True:
        rows = list(
            session.execute(events_statement(user_id=user_id, query=_sized(position, chunk), extra=0))
        )
        yield from rows
        if len(rows) < chunk:
            return
        position = _sized(position, chunk, cursor=_position(rows[-1], query, "next"))


def _sized(query: AuditQuery, limit: int, cursor: Cursor | None = None) -> AuditQuery:
    """The query with another page size (and position), bypassing the API's 200-row cap on purpose."""
    return AuditQuery(
        event_types=query.event_types,
        task_id=query.task_id,
        since=query.since,
        until=query.until,
        q=query.q,
        sort=query.sort,
        limit=limit,
        cursor=cursor if cursor is not None else query.cursor,
    )


def events_since(*, session: SessionLike, user_id: str, query: AuditQuery, after_id: int) -> list[Row[Any]]:
    """Matching rows stored after row `after_id` (live updates), newest first, at most LIVE_MAX."""
    stmt = (
        select(*COLUMNS)
        .where(*_filters(user_id=user_id, query=query), AuditLog.id > after_id)
        .order_by(AuditLog.timestamp.desc(), AuditLog.id.desc())
        .limit(LIVE_MAX)
    )
    return list(session.execute(stmt))


def latest_id(*, session: SessionLike) -> int:
    """The newest stored row id of anyone (0 when none): live polling asks for rows after it.

    Global on purpose: max(id) is one primary-key probe, and the live query's `id > n` then
    walks only the few rows stored since, instead of all of one user's history.
    """
    return int(session.scalar(select(func.coalesce(func.max(AuditLog.id), 0))) or 0)


def task_history(*, session: SessionLike, user_id: str, task_id: int) -> list[Row[Any]]:
    """One task's events, oldest first (deleted tasks included: the trail outlives the task)."""
    stmt = (
        select(*COLUMNS)
        .where(AuditLog.task_id == task_id, AuditLog.user_id == user_id)
        .order_by(AuditLog.timestamp, AuditLog.id)
    )
    return list(session.execute(stmt))


def count_events(*, session: SessionLike, user_id: str) -> dict[str, int]:
    """The user's events per type and in total, counted in audit_log (the fallback for the stream's table)."""
    stmt = (
        select(AuditLog.event_type, func.count())
        .where(AuditLog.user_id == user_id)
        .group_by(AuditLog.event_type)
    )
    return counts_from({event_type: int(count) for event_type, count in session.execute(stmt)})


def activity_counts(
    *, session: SessionLike, user_id: str, since: datetime, bucket: str
) -> dict[tuple[datetime, str], int]:
    """The user's events per (bucket start, type) since `since`, bucket "hour" or "day" (UTC)."""
    start = func.date_trunc(bucket, AuditLog.timestamp, "UTC").label("start")
    stmt = (
        select(start, AuditLog.event_type, func.count())
        .where(AuditLog.user_id == user_id, AuditLog.timestamp >= since)
        .group_by(start, AuditLog.event_type)
    )
    return {(moment.astimezone(UTC), kind): int(count) for moment, kind, count in session.execute(stmt)}
