"""Task changes and queries; every change commits together with its outbox event."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Row, Select, Table, UnaryExpression, bindparam, func, or_, select, true
from sqlalchemy.dialects.postgresql import distinct_on, insert

from shared.db import SessionLike
from shared.driver import DriverStatement
from shared.events import new_event
from shared.models import AuditLog, Task
from web.outbox.repository import event_insert_after
from web.outbox.store import commit_with_events, outbox_row
from web.tasks.schemas import PastTask, TaskQuery

_ORDER: dict[str, tuple[UnaryExpression[Any], ...]] = {
    "created_at": (Task.created_at.asc(), Task.id.asc()),
    "-created_at": (Task.created_at.desc(), Task.id.desc()),
    "updated_at": (Task.updated_at.asc(), Task.id.asc()),
    "-updated_at": (Task.updated_at.desc(), Task.id.desc()),
    "title": (Task.title.asc(), Task.id.asc()),
}


def _record(session: SessionLike, task: Task, event_type: str) -> None:
    """Commit the task's current state with an event describing it."""
    event = new_event(
        event_type=event_type,
        user_id=task.user_id,
        task_id=task.id,
        title=task.title,
        description=task.description,
        completed=task.completed,
    )
    commit_with_events(session=session, events=[event])


def _escape_like(text: str) -> str:
    """Make user text literal inside a LIKE pattern."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_tasks(*, session: SessionLike, user_id: str, query: TaskQuery) -> list[Task]:
    """The user's tasks, filtered and sorted as asked."""
    stmt = select(Task).where(Task.user_id == user_id)
    if query.status != "all":
        stmt = stmt.where(Task.completed.is_(query.status == "completed"))
    if query.q:
        pattern = f"%{_escape_like(query.q)}%"
        stmt = stmt.where(
            or_(Task.title.ilike(pattern, escape="\\"), Task.description.ilike(pattern, escape="\\"))
        )
    return list(session.scalars(stmt.order_by(*_ORDER[query.sort])))


def get_task(*, session: SessionLike, user_id: str, task_id: int, for_update: bool = False) -> Task | None:
    """The user's task, or None when it does not exist or is someone else's."""
    stmt = select(Task).where(Task.id == task_id, Task.user_id == user_id)
    if for_update:
        stmt = stmt.with_for_update()
    return session.scalar(stmt)


def _create_statement() -> Select[int]:
    """INSERT a task and its `created` event in one statement, returning the task's id."""
    tasks = cast(Table, Task.__table__)
    row = {name: bindparam(name, type_=tasks.c[name].type) for name in ("user_id", "title", "description")}
    now = bindparam("now", type_=tasks.c.created_at.type)
    task = (
        insert(tasks)
        .values(**row, completed=False, created_at=now, updated_at=now)
        .returning(tasks.c.id)
        .cte("task")
    )
    event = event_insert_after(task)
    return select(task.c.id).select_from(task.join(event, true()))


# Built once: profiling showed the ORM's flush and a second INSERT for the event on every create; run
# on the driver (shared.driver.DriverStatement), as SQLAlchemy's execution cost more than psycopg's.
_CREATE = DriverStatement(_create_statement())


def create_task(*, session: SessionLike, user_id: str, title: str, description: str) -> Task:
    """Add a task and its `created` event in one statement, and commit.

    When nothing else in the session's transaction was sent or is pending (an API create), the
    statement runs as its own transaction: one round trip in all, no BEGIN or COMMIT.
    """
    now = datetime.now(UTC)
    task = Task(
        user_id=user_id, title=title, description=description, completed=False, created_at=now, updated_at=now
    )
    # task_id 0 stands in until the statement sets the id the INSERT gives the task.
    event = new_event(event_type="created", user_id=user_id, task_id=0, title=title,
                      description=description, completed=False)  # fmt: skip
    params = {**outbox_row(event), "title": title, "description": description, "now": now}
    ((task.id,),) = _CREATE.execute(session=session, params=params, alone=True)
    session.commit()
    return task


def update_task(
    *, session: SessionLike, user_id: str, task_id: int, title: str, description: str
) -> Task | None:
    """Replace title and description, with an `updated` event; None when not found."""
    task = get_task(session=session, user_id=user_id, task_id=task_id, for_update=True)
    if task is None:
        return None
    task.title, task.description, task.updated_at = title, description, datetime.now(UTC)
    _record(session, task, "updated")
    return task


def toggle_task(*, session: SessionLike, user_id: str, task_id: int) -> Task | None:
    """Flip `completed`: done is a `completed` event, undone an `updated` one."""
    task = get_task(session=session, user_id=user_id, task_id=task_id, for_update=True)
    if task is None:
        return None
    task.completed, task.updated_at = not task.completed, datetime.now(UTC)
    _record(session, task, "completed" if task.completed else "updated")
    return task


def delete_task(*, session: SessionLike, user_id: str, task_id: int) -> bool:
    """Remove a task, with a `deleted` event carrying its last state; False when not found."""
    task = get_task(session=session, user_id=user_id, task_id=task_id, for_update=True)
    if task is None:
        return False
    session.delete(task)
    _record(session, task, "deleted")
    return True


def as_of_statement(*, user_id: str, as_of: datetime) -> Select[Any]:
    """The user's tasks standing at `as_of`: each task's latest event then, unless it was a deletion.

    One range scan of the user's (user_id, timestamp) index and a sort by task; only the task's
    fields leave the database, not whole events.
    """
    data = AuditLog.event_data["task_data"]
    latest = (
        select(
            AuditLog.task_id,
            AuditLog.event_type,
            data["title"].astext.label("title"),
            data["description"].astext.label("description"),
            data["completed"].astext.label("completed"),
            AuditLog.timestamp,
            func.min(AuditLog.timestamp).over(partition_by=AuditLog.task_id).label("first_seen"),
        )
        .where(AuditLog.user_id == user_id, AuditLog.timestamp <= as_of)
        .order_by(AuditLog.task_id, AuditLog.timestamp.desc(), AuditLog.id.desc())
        .ext(distinct_on(AuditLog.task_id))
        .subquery()
    )
    return select(latest).where(latest.c.event_type != "deleted")


def list_tasks_as_of(*, session: SessionLike, user_id: str, query: TaskQuery) -> list[PastTask]:
    """The user's tasks as they stood at query.as_of, rebuilt from the audit trail alone.

    Each task is its latest event at or before that moment (tasks deleted since come back; those
    created later do not); the tasks come back unsaved, for display only.
    """
    statement = as_of_statement(user_id=user_id, as_of=query.as_of or datetime.now(UTC))
    tasks = [_rebuilt(user_id, row) for row in session.execute(statement)]
    wanted = [task for task in tasks if _matches(task, query)]
    field, newest_first = query.sort.lstrip("-"), query.sort.startswith("-")
    return sorted(wanted, key=lambda task: (getattr(task, field), task.id), reverse=newest_first)


def _rebuilt(user_id: str, row: Row[Any]) -> PastTask:
    """A display-only task from its latest event's fields."""
    return PastTask(
        id=row.task_id,
        user_id=user_id,
        title=row.title or "",
        description=row.description or "",
        completed=row.completed == "true",
        created_at=row.first_seen,
        updated_at=row.timestamp,
    )


def _matches(task: PastTask, query: TaskQuery) -> bool:
    """Whether a rebuilt task passes the status filter and the text search (case-insensitive)."""
    if query.status != "all" and task.completed != (query.status == "completed"):
        return False
    needle = query.q.casefold()
    return not needle or needle in task.title.casefold() or needle in task.description.casefold()
