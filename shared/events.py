"""The task event, defined once: building it, serialising it and validating what arrives.

Plain Python on purpose (no Flask, no Faust) so both sides import it cheaply. Field names
are a contract with every consumer: add fields, never rename them.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

EVENT_TYPES = ("created", "updated", "completed", "deleted")
TASK_DATA_FIELDS = {"title": str, "description": str, "completed": bool}


class EventValidationError(ValueError):
    """An event does not match the schema; `field` names the offending part."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class TaskData:
    """The task as it stood after the change."""

    title: str
    description: str
    completed: bool


@dataclass(frozen=True)
class TaskEvent:
    """One change to one task, as published on `task-events`."""

    event_id: uuid.UUID
    event_type: str
    timestamp: datetime
    user_id: str
    task_id: int
    task_data: TaskData

    def to_dict(self) -> dict[str, Any]:
        """The wire form: JSON-ready, timestamp in RFC 3339 UTC with a Z."""
        return {
            "event_id": str(self.event_id),
            "event_type": self.event_type,
            "timestamp": format_timestamp(self.timestamp),
            "user_id": self.user_id,
            "task_id": self.task_id,
            "task_data": {name: getattr(self.task_data, name) for name in TASK_DATA_FIELDS},
        }

    def to_json(self) -> str:
        """The wire form as compact JSON text."""
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with microseconds and a trailing Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_event(
    *, event_type: str, user_id: str, task_id: int, title: str, description: str, completed: bool
) -> TaskEvent:
    """Make a fresh, valid event stamped now with a new uuid4."""
    event = TaskEvent(
        event_id=uuid.uuid4(),
        event_type=event_type,
        timestamp=datetime.now(UTC),
        user_id=user_id,
        task_id=task_id,
        task_data=TaskData(title=title, description=description, completed=completed),
    )
    return parse_event(event.to_dict())


def _require(obj: dict[str, Any], field: str, kind: type, prefix: str = "") -> Any:
    """Fetch a required field of an exact type (bool is not accepted as int)."""
    name = prefix + field
    if field not in obj:
        raise EventValidationError(name, "is required")
    value = obj[field]
    if kind is int and isinstance(value, bool):
        raise EventValidationError(name, "must be an integer")
    if not isinstance(value, kind):
        raise EventValidationError(name, f"must be {kind.__name__}")
    return value


def _parse_uuid4(raw: str) -> uuid.UUID:
    """A version-4 UUID in its canonical text form."""
    try:
        value = uuid.UUID(raw)
    except ValueError:
        raise EventValidationError("event_id", "must be a UUID") from None
    if value.version != 4:
        raise EventValidationError("event_id", "must be a version 4 UUID")
    return value


def parse_timestamp(raw: str, field: str = "timestamp") -> datetime:
    """An RFC 3339 timestamp with an explicit offset, returned in UTC."""
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise EventValidationError(field, "must be an RFC 3339 timestamp") from None
    if moment.tzinfo is None or "T" not in raw.upper():
        raise EventValidationError(field, "must be an RFC 3339 timestamp with a time zone")
    try:
        return moment.astimezone(UTC)
    except (OverflowError, ValueError):
        # 0001-01-01T00:00-01:00 or 9999-12-31T23:59+01:00 in UTC falls outside what datetime holds.
        raise EventValidationError(field, "is outside the supported range of dates") from None


def _parse_task_data(obj: dict[str, Any]) -> TaskData:
    """The task_data object, each field of its exact type."""
    data = _require(obj, "task_data", dict)
    values = {name: _require(data, name, kind, "task_data.") for name, kind in TASK_DATA_FIELDS.items()}
    return TaskData(**values)


def parse_event(obj: Any) -> TaskEvent:
    """Validate a decoded JSON object against the schema and return the event."""
    if not isinstance(obj, dict):
        raise EventValidationError("event", "must be a JSON object")
    event_type = _require(obj, "event_type", str)
    if event_type not in EVENT_TYPES:
        raise EventValidationError("event_type", f"must be one of {', '.join(EVENT_TYPES)}")
    user_id = _require(obj, "user_id", str)
    if not user_id:
        raise EventValidationError("user_id", "must not be empty")
    return TaskEvent(
        event_id=_parse_uuid4(_require(obj, "event_id", str)),
        event_type=event_type,
        timestamp=parse_timestamp(_require(obj, "timestamp", str)),
        user_id=user_id,
        task_id=_require(obj, "task_id", int),
        task_data=_parse_task_data(obj),
    )
