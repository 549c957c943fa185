"""Verifying the audit hash chains: stream every row per user in id order and find the first broken link.

Rows are read in keyset chunks on (user_id, id), which the ix_audit_log_user_id_id index serves, so
memory stays flat whatever the trail's size. Each row must link to the row before it (prev_hash) and
match its own hash; one row of lookahead tells an altered row from a deleted, inserted or swapped one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, Select, func, select, tuple_

from shared.audit_chain import GENESIS, link_hash, row_document
from shared.db import SessionLike
from shared.models import AuditLog

CHUNK = 1000
CHAIN_COLUMNS = (
    AuditLog.id,
    AuditLog.user_id,
    AuditLog.event_id,
    AuditLog.event_type,
    AuditLog.task_id,
    AuditLog.timestamp,
    AuditLog.event_data,
    AuditLog.prev_hash,
    AuditLog.hash,
)


@dataclass(frozen=True)
class BrokenLink:
    """The first row where a chain does not hold, and what is wrong there."""

    id: int
    user_id: str
    problem: str
    detail: str


@dataclass(frozen=True)
class Verdict:
    """How many rows were checked, and the first broken link if there is one."""

    rows: int
    broken: BrokenLink | None

    @property
    def intact(self) -> bool:
        """Whether every checked chain holds."""
        return self.broken is None

    def to_json(self) -> dict[str, Any]:
        """The report the API returns."""
        if self.broken is None:
            return {"intact": True, "rows": self.rows}
        link = self.broken
        return {
            "intact": False,
            "rows": self.rows,
            "broken": {"id": link.id, "problem": link.problem, "detail": link.detail},
        }


def count_rows(*, session: SessionLike, user_id: str | None = None) -> int:
    """How many rows a verification will read (for the progress bar)."""
    stmt = select(func.count()).select_from(AuditLog)
    if user_id is not None:
        stmt = stmt.where(AuditLog.user_id == user_id)
    return int(session.scalar(stmt) or 0)


def chunk_statement(*, user_id: str | None, after: tuple[str, int], chunk: int) -> Select[Any]:
    """The next `chunk` rows after position (user_id, id), in (user_id, id) order."""
    stmt = select(*CHAIN_COLUMNS)
    if user_id is not None:
        stmt = stmt.where(AuditLog.user_id == user_id, AuditLog.id > after[1])
    else:
        stmt = stmt.where(tuple_(AuditLog.user_id, AuditLog.id) > tuple_(*after))
    return stmt.order_by(AuditLog.user_id, AuditLog.id).limit(chunk)


def chain_rows(*, session: SessionLike, user_id: str | None = None, chunk: int = CHUNK) -> Iterator[Row[Any]]:
    """Every row of one user's chain (or of all users, user by user) in id order, chunk by chunk."""
    after: tuple[str, int] = (user_id or "", 0)
    while True:
        rows = list(session.execute(chunk_statement(user_id=user_id, after=after, chunk=chunk)))
        yield from rows
        if len(rows) < chunk:
            return
        after = (rows[-1].user_id, rows[-1].id)


def _sealed(row: Row[Any]) -> bool:
    """Whether the row's hash matches its own content and stated predecessor."""
    document = row_document(
        event_id=row.event_id,
        event_type=row.event_type,
        user_id=row.user_id,
        task_id=row.task_id,
        timestamp=row.timestamp,
        event_data=row.event_data,
    )
    return link_hash(bytes(row.prev_hash), document) == bytes(row.hash)


@dataclass
class _Walk:
    """Where one user's chain stands: the hash the next row must link to, and the one before it."""

    user_id: str
    expected: bytes = GENESIS
    before: bytes | None = None
    previous_id: int | None = None

    def advance(self, row: Row[Any]) -> None:
        """Accept a row as the chain's new head."""
        self.before, self.expected, self.previous_id = self.expected, bytes(row.hash), row.id


def diagnose(row: Row[Any], walk: _Walk, follower: Row[Any] | None) -> BrokenLink | None:
    """None if the row continues the chain, else what is wrong (follower: the user's next row)."""
    linked, sealed = bytes(row.prev_hash) == walk.expected, _sealed(row)
    if linked and sealed:
        return None

    def broken(row_id: int, problem: str, detail: str) -> BrokenLink:
        return BrokenLink(id=row_id, user_id=walk.user_id, problem=problem, detail=detail)

    if follower is not None and bytes(follower.prev_hash) == walk.expected:
        if sealed and bytes(row.prev_hash) == bytes(follower.hash):
            return broken(row.id, "reordered", f"rows {row.id} and {follower.id} are in each other's place")
        return broken(row.id, "inserted", f"not in the chain: row {follower.id} links to the row before it")
    if sealed and walk.before is not None and bytes(row.prev_hash) == walk.before:
        inserted = walk.previous_id or row.id
        return broken(inserted, "inserted", f"not in the chain: row {row.id} links to the row before it")
    if linked:
        return broken(row.id, "altered", "its content or hash changed after it was written")
    if sealed:
        return broken(row.id, "deleted", "the row it links to is missing (deleted)")
    return broken(row.id, "altered", "it neither links to the row before it nor matches its own hash")


def find_break(rows: Iterator[Row[Any]], progress: Callable[[int], object] | None = None) -> Verdict:
    """Walk rows ordered by (user_id, id); stop at the first broken link."""
    checked, walk = 0, None
    current = next(rows, None)
    while current is not None:
        following = next(rows, None)
        if walk is None or walk.user_id != current.user_id:
            walk = _Walk(user_id=current.user_id)
        checked += 1
        if progress is not None:
            progress(1)
        follower = following if following is not None and following.user_id == walk.user_id else None
        problem = diagnose(current, walk, follower)
        if problem is not None:
            return Verdict(rows=checked, broken=problem)
        walk.advance(current)
        current = following
    return Verdict(rows=checked, broken=None)


def verify_trail(
    *, session: SessionLike, user_id: str | None = None, progress: Callable[[int], object] | None = None
) -> Verdict:
    """Verify one user's chain, or every user's, reading the rows as a stream."""
    return find_break(chain_rows(session=session, user_id=user_id), progress)
