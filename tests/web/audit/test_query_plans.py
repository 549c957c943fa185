"""The audit queries walk the audit_log indexes (no sequential scans, no sorts) on a few 100k rows."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from shared.models import AuditLog
from tests.fixtures.database import empty_tables
from tests.web.audit.factories import bulk_insert
from web.audit import services
from web.audit.schemas import AuditQuery, Cursor

USERS, ROWS_EACH, HEAVY_ROWS = 250, 1000, 50_000
START = datetime(2026, 1, 1, tzinfo=UTC)
HEAVY = "heavy-user"


@pytest.fixture(autouse=True)
def _clean_tables() -> None:
    """Not after each test here: `loaded` fills the tables once for the module and empties them after it."""


@pytest.fixture(scope="module")
def loaded(engine: Engine) -> Iterator[Engine]:
    """~300k rows: 250 users with 1,000 events each and one user with 50,000 (half a minute to load)."""
    with engine.begin() as conn:
        for n in range(USERS):
            bulk_insert(conn, user_id=f"user-{n:04d}", rows=ROWS_EACH, start=START + timedelta(seconds=n))
        bulk_insert(conn, user_id=HEAVY, rows=HEAVY_ROWS, start=START)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE audit_log"))
    yield engine
    empty_tables(engine)


def _plan(session: Session, statement) -> str:
    compiled = statement.compile(
        dialect=session.get_bind().dialect, compile_kwargs={"render_postcompile": True}
    )
    rows = session.connection().exec_driver_sql("EXPLAIN " + str(compiled), compiled.params)
    return "\n".join(row[0] for row in rows)


def _middle_cursor(session: Session, query: AuditQuery) -> Cursor:
    page = services.list_events(session=session, user_id=HEAVY, query=query)
    assert page.next_cursor is not None
    return page.next_cursor


def _cases(session: Session) -> dict[str, tuple[object, str]]:
    """name -> (statement, index it must use)."""
    base = AuditQuery()
    deep = AuditQuery(cursor=_middle_cursor(session, AuditQuery(limit=200)))
    window = AuditQuery(
        sort="timestamp", since=START + timedelta(seconds=10), until=START + timedelta(seconds=20)
    )

    def page(query: AuditQuery):
        return services.events_statement(user_id=HEAVY, query=query)

    return {
        "first page": (page(base), "ix_audit_log_user_time"),
        "page after a cursor": (page(deep), "ix_audit_log_user_time"),
        "one event type": (page(AuditQuery(event_types=("deleted",))), "ix_audit_log_user_type_time"),
        "two event types": (page(AuditQuery(event_types=("created", "deleted"))), "ix_audit_log_user"),
        "one task": (page(AuditQuery(task_id=777)), "ix_audit_log_task_time"),
        "rare text": (page(AuditQuery(q="row 4999")), "ix_audit_log_search"),
        "common text": (page(AuditQuery(q="task")), "ix_audit_log_user_time"),
        "date window, oldest first": (page(window), "ix_audit_log_user_time"),
    }


@pytest.mark.slow
def test_audit_queries_use_the_indexes(loaded):
    # Their speed is measured in bench/audit_queries.py at 1,000,000 rows beside a same-run baseline;
    # a timed assertion here only measured how busy the machine was.
    with Session(loaded) as session:
        for name, (statement, index) in _cases(session).items():
            plan = _plan(session, statement)
            assert "Seq Scan" not in plan, f"{name}:\n{plan}"
            assert index in plan, f"{name} should use {index}:\n{plan}"
            if name not in ("two event types", "rare text"):  # both may bitmap-scan then sort a bounded set
                assert "Sort" not in plan, f"{name} should read rows in index order:\n{plan}"


@pytest.mark.slow
def test_history_counts_and_live_use_indexes(loaded):
    with Session(loaded) as session:
        from sqlalchemy import func, select

        history = (
            select(AuditLog.id)
            .where(AuditLog.task_id == 777, AuditLog.user_id == HEAVY)
            .order_by(AuditLog.timestamp, AuditLog.id)
        )
        assert "ix_audit_log_task_time" in _plan(session, history)
        counts = (
            select(AuditLog.event_type, func.count())
            .where(AuditLog.user_id == HEAVY)
            .group_by(AuditLog.event_type)
        )
        plan = _plan(session, counts)
        assert "Seq Scan" not in plan, plan
        started = time.perf_counter()
        assert services.count_events(session=session, user_id=HEAVY)["total"] == HEAVY_ROWS
        print(
            f"\ncounts fallback, {HEAVY_ROWS} rows: {(time.perf_counter() - started) * 1000:.1f} ms\n{plan}"
        )
        newest = services.latest_id(session=session)
        live = select(AuditLog.id).where(AuditLog.user_id == HEAVY, AuditLog.id > newest - 10)
        # The primary key, or the chain's (user_id, id) index: either walks only the newest rows.
        plan = _plan(session, live)
        assert "pk_audit_log" in plan or "ix_audit_log_user_id_id" in plan, plan
