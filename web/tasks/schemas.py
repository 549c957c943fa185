"""Validation of task input and list queries, and the Task JSON shape."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.events import format_timestamp
from shared.models import Task
from web.requests import parse_moment, text_problem

MAX_TITLE = 200
MAX_DESCRIPTION = 2000
STATUSES = ("all", "pending", "completed")
SORTS = ("created_at", "-created_at", "updated_at", "-updated_at", "title")
MAX_QUERY = 200


@dataclass(frozen=True)
class TaskInput:
    """A validated title (trimmed) and description."""

    title: str
    description: str


@dataclass(frozen=True)
class TaskQuery:
    """A validated list query."""

    status: str = "all"
    q: str = ""
    sort: str = "-created_at"
    # The list as it was at this moment, rebuilt from the audit trail; None is the list now.
    as_of: datetime | None = None


def parse_task_input(body: dict[str, Any]) -> tuple[TaskInput | None, dict[str, str]]:
    """Validate {title, description?}; returns the input or the per-field errors."""
    errors: dict[str, str] = {}
    title = body.get("title")
    description = body.get("description")
    if description is None:
        description = ""
    if not isinstance(title, str):
        errors["title"] = "a title is required" if title is None else "must be a string"
    else:
        title = title.strip()
        if not title:
            errors["title"] = "must not be empty"
        elif len(title) > MAX_TITLE:
            errors["title"] = f"must be at most {MAX_TITLE} characters"
        elif problem := text_problem(title):
            errors["title"] = problem
    if not isinstance(description, str):
        errors["description"] = "must be a string"
    elif len(description) > MAX_DESCRIPTION:
        errors["description"] = f"must be at most {MAX_DESCRIPTION} characters"
    elif problem := text_problem(description):
        errors["description"] = problem
    if errors:
        return None, errors
    return TaskInput(title=str(title), description=str(description)), {}


def parse_task_query(args: dict[str, str]) -> tuple[TaskQuery | None, dict[str, str]]:
    """Validate status, q, sort and as_of (a date-time, or a date meaning the end of that UTC day)."""
    errors: dict[str, str] = {}
    status = args.get("status") or "all"
    sort = args.get("sort") or "-created_at"
    q = (args.get("q") or "").strip()
    if status not in STATUSES:
        errors["status"] = f"must be one of {', '.join(STATUSES)}"
    if sort not in SORTS:
        errors["sort"] = f"must be one of {', '.join(SORTS)}"
    if len(q) > MAX_QUERY:
        errors["q"] = f"must be at most {MAX_QUERY} characters"
    elif problem := text_problem(q):
        errors["q"] = problem
    as_of = None
    if raw_as_of := (args.get("as_of") or "").strip():
        try:
            as_of = parse_moment(raw_as_of, end_of_day=True)
        except ValueError as exc:
            errors["as_of"] = str(exc)
    if errors:
        return None, errors
    return TaskQuery(status=status, q=q, sort=sort, as_of=as_of), {}


@dataclass(frozen=True, slots=True)
class PastTask:
    """A task as it stood at some moment, rebuilt from the audit trail (display only, never saved).

    A plain record rather than a Task: building hundreds of ORM instances cost more than the query.
    """

    id: int
    user_id: str
    title: str
    description: str
    completed: bool
    created_at: datetime
    updated_at: datetime


def task_json(task: Task | PastTask) -> dict[str, Any]:
    """The Task object of the API contract."""
    return {
        "id": task.id,
        "user_id": task.user_id,
        "title": task.title,
        "description": task.description,
        "completed": task.completed,
        "created_at": format_timestamp(task.created_at),
        "updated_at": format_timestamp(task.updated_at),
    }


# The JSON Schemas the OpenAPI document publishes, built from the limits the parsers above enforce
# (tests/web/test_openapi.py proves each limit is the one the API applies).
NOT_BLANK = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"
NO_NUL = r"^[^\u0000]*$"
TASK_INPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["title"],
    "properties": {
        "title": {"type": "string", "minLength": 1, "maxLength": MAX_TITLE, "pattern": NOT_BLANK},
        "description": {"type": "string", "maxLength": MAX_DESCRIPTION, "pattern": NO_NUL},
    },
}
TASK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "user_id", "title", "description", "completed", "created_at", "updated_at"],
    "properties": {
        "id": {"type": "integer"},
        "user_id": {"type": "string"},
        "title": {"type": "string", "maxLength": MAX_TITLE},
        "description": {"type": "string", "maxLength": MAX_DESCRIPTION},
        "completed": {"type": "boolean"},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
    },
}
TASK_QUERY_PARAMETERS: dict[str, dict[str, Any]] = {
    "status": {"type": "string", "enum": list(STATUSES), "default": "all"},
    "q": {"type": "string", "maxLength": MAX_QUERY, "pattern": NO_NUL},
    "sort": {"type": "string", "enum": list(SORTS), "default": "-created_at"},
    "as_of": {"type": "string", "description": "RFC 3339 date-time, or a date (its end): the list as it was"},
}
