"""The one parser of audit filters (API, export and page share it), the cursor, and the JSON shapes."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from werkzeug.datastructures import MultiDict

from shared.events import (
    EVENT_TYPES,
    TASK_DATA_FIELDS,
    EventValidationError,
    format_timestamp,
    parse_timestamp,
)
from web.requests import ascii_int, parse_moment, text_problem

SORTS = ("-timestamp", "timestamp")
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_QUERY = 200
MAX_TASK_ID = 2**63 - 1
CURSOR_DIRECTIONS = ("next", "prev")


@dataclass(frozen=True)
class Cursor:
    """A keyset position: the (timestamp, id) of a row, the sort it was made for, and which way to go."""

    timestamp: datetime
    id: int
    sort: str
    direction: str = "next"

    def encode(self) -> str:
        """Opaque base64url text for the URL."""
        raw = {"t": format_timestamp(self.timestamp), "id": self.id, "s": self.sort}
        if self.direction != "next":
            raw["d"] = self.direction
        data = json.dumps(raw, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(data).decode().rstrip("=")


@dataclass(frozen=True)
class AuditQuery:
    """A validated audit filter, sort, page size and position."""

    event_types: tuple[str, ...] = ()
    task_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    q: str = ""
    sort: str = "-timestamp"
    limit: int = DEFAULT_LIMIT
    cursor: Cursor | None = None

    @property
    def descending(self) -> bool:
        """Newest first."""
        return self.sort == "-timestamp"

    @property
    def filtered(self) -> bool:
        """Whether anything narrows the trail (so an empty page means 'no match', not 'no events')."""
        return bool(self.event_types or self.task_id or self.since or self.until or self.q)

    def first_page(self) -> AuditQuery:
        """The same filters from the top."""
        return replace(self, cursor=None)

    def to_args(self, *, cursor: Cursor | None = None, limit: bool = True) -> list[tuple[str, str]]:
        """The query-string pairs that reproduce this view (for links, export and live polling)."""
        args: list[tuple[str, str]] = [("event_type", kind) for kind in self.event_types]
        for name, value in (("task_id", self.task_id), ("q", self.q)):
            if value:
                args.append((name, str(value)))
        for name, moment in (("since", self.since), ("until", self.until)):
            if moment is not None:
                args.append((name, format_timestamp(moment)))
        if self.sort != "-timestamp":
            args.append(("sort", self.sort))
        if limit and self.limit != DEFAULT_LIMIT:
            args.append(("limit", str(self.limit)))
        if cursor is not None:
            args.append(("cursor", cursor.encode()))
        return args


def decode_cursor(text: str) -> Cursor:
    """Read an opaque cursor back; ValueError for anything not made by `Cursor.encode`."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ValueError("is not a valid cursor") from None
    if not isinstance(raw, dict) or set(raw) - {"t", "id", "s", "d"}:
        raise ValueError("is not a valid cursor")
    row_id, sort, direction = raw.get("id"), raw.get("s"), raw.get("d", "next")
    if type(row_id) is not int or not 0 < row_id <= MAX_TASK_ID:
        raise ValueError("is not a valid cursor")
    if sort not in SORTS or direction not in CURSOR_DIRECTIONS or not isinstance(raw.get("t"), str):
        raise ValueError("is not a valid cursor")
    try:
        moment = parse_timestamp(raw["t"])
    except (EventValidationError, OverflowError):
        raise ValueError("is not a valid cursor") from None
    return Cursor(timestamp=moment, id=row_id, sort=sort, direction=direction)


def _int_in(raw: str, low: int, high: int) -> int:
    """An integer within [low, high]."""
    value = ascii_int(raw)
    if not low <= value <= high:
        raise ValueError(f"must be between {low} and {high}")
    return value


def _parse_fields(args: MultiDict[str, str], errors: dict[str, str]) -> dict[str, Any]:
    """Each filter on its own, collecting one message per bad field."""
    values: dict[str, Any] = {}
    kinds = [kind for kind in args.getlist("event_type") if kind]
    bad = [kind for kind in kinds if kind not in EVENT_TYPES]
    if bad:
        errors["event_type"] = f"must be one of {', '.join(EVENT_TYPES)} (got {bad[0]!r})"
    values["event_types"] = tuple(kind for kind in EVENT_TYPES if kind in kinds)
    parsers: dict[str, Any] = {
        "task_id": lambda raw: _int_in(raw, 1, MAX_TASK_ID),
        "since": lambda raw: parse_moment(raw, end_of_day=False),
        "until": lambda raw: parse_moment(raw, end_of_day=True),
        "limit": lambda raw: _int_in(raw, 1, MAX_LIMIT),
        "cursor": decode_cursor,
    }
    for name, parse in parsers.items():
        raw = (args.get(name) or "").strip()
        if raw:
            try:
                values[name] = parse(raw)
            except ValueError as error:
                errors[name] = str(error)
    values["sort"] = args.get("sort") or "-timestamp"
    if values["sort"] not in SORTS:
        errors["sort"] = f"must be one of {', '.join(SORTS)}"
    values["q"] = (args.get("q") or "").strip()
    if len(values["q"]) > MAX_QUERY:
        errors["q"] = f"must be at most {MAX_QUERY} characters"
    elif problem := text_problem(values["q"]):
        errors["q"] = problem
    return values


def parse_audit_query(args: MultiDict[str, str]) -> tuple[AuditQuery | None, dict[str, str]]:
    """Validate the audit filters from a query string; returns the query or the per-field errors."""
    errors: dict[str, str] = {}
    values = _parse_fields(args, errors)
    since, until, cursor = values.get("since"), values.get("until"), values.get("cursor")
    if since is not None and until is not None and since >= until and "until" not in errors:
        errors["until"] = "must be later than since"
    if cursor is not None and "sort" not in errors and cursor.sort != values["sort"]:
        errors["cursor"] = "was made for another sort order; start again without it"
    if errors:
        return None, errors
    return AuditQuery(**values), {}


def entry_json(row: Any) -> dict[str, Any]:
    """The audit item of the API contract."""
    return {
        "id": row.id,
        "event_id": str(row.event_id),
        "event_type": row.event_type,
        "user_id": row.user_id,
        "task_id": row.task_id,
        "event_data": row.event_data,
        "timestamp": format_timestamp(row.timestamp),
    }


def task_data(row: Any) -> dict[str, Any]:
    """The task as the event described it (tolerates rows missing parts of task_data)."""
    data = row.event_data.get("task_data") if isinstance(row.event_data, dict) else None
    return data if isinstance(data, dict) else {}


def history_items(rows: list[Any]) -> list[dict[str, Any]]:
    """Each event of one task with the fields changed since the event before it ({"title": [old, new]})."""
    items: list[dict[str, Any]] = []
    previous: dict[str, Any] = {}
    for row in rows:
        current = task_data(row)
        names = [name for name in TASK_DATA_FIELDS if name in current or name in previous]
        changes = {n: [previous.get(n), current.get(n)] for n in names if previous.get(n) != current.get(n)}
        items.append({**entry_json(row), "changes": changes})
        previous = current
    return items


# The JSON Schemas the OpenAPI document publishes, from the limits the parser above enforces.
AUDIT_QUERY_PARAMETERS: dict[str, dict[str, Any]] = {
    "event_type": {"type": "array", "items": {"type": "string", "enum": list(EVENT_TYPES)}},
    "task_id": {"type": "integer", "minimum": 1, "maximum": MAX_TASK_ID},
    "since": {"type": "string", "description": "RFC 3339 date-time with offset, or a date (its UTC start)"},
    "until": {"type": "string", "description": "RFC 3339 date-time with offset, or a date (up to its end)"},
    "q": {"type": "string", "maxLength": MAX_QUERY, "pattern": r"^[^\u0000]*$"},
    "sort": {"type": "string", "enum": list(SORTS), "default": "-timestamp"},
    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
    "cursor": {"type": "string", "description": "next_cursor of a previous page"},
}
AUDIT_ITEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "event_id", "event_type", "user_id", "task_id", "event_data", "timestamp"],
    "properties": {
        "id": {"type": "integer"},
        "event_id": {"type": "string", "format": "uuid"},
        "event_type": {"type": "string", "enum": list(EVENT_TYPES)},
        "user_id": {"type": "string"},
        "task_id": {"type": "integer"},
        "event_data": {"type": "object"},
        "timestamp": {"type": "string", "format": "date-time"},
    },
}
AUDIT_PAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["items", "next_cursor"],
    "properties": {
        "items": {"type": "array", "items": AUDIT_ITEM_SCHEMA},
        "next_cursor": {"type": ["string", "null"]},
    },
}
HISTORY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["task_id", "items"],
    "properties": {
        "task_id": {"type": "integer"},
        "items": {
            "type": "array",
            "items": {
                "allOf": [AUDIT_ITEM_SCHEMA],
                "required": ["changes"],
                "properties": {"changes": {"type": "object"}},
            },
        },
    },
}
