"""Reading API input: 400 for non-JSON, 422 for a non-object; storable text, ids and moments."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import request
from werkzeug.routing import IntegerConverter

from shared.events import EventValidationError, parse_timestamp
from web.errors import ApiError

MAX_BIGINT = 2**63 - 1


class BigIntConverter(IntegerConverter):
    """`<int:...>` in ASCII digits and within PostgreSQL's bigint, so a huge id is a 404, not a 500."""

    regex = r"[0-9]+"

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_BIGINT)
        super().__init__(map, *args, **kwargs)


def json_body() -> dict[str, Any]:
    """The request's JSON object, or an ApiError saying why it is unusable."""
    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(400, "invalid_json", "the request body must be JSON (Content-Type: application/json)")
    if not isinstance(body, dict):
        raise ApiError(
            422, "validation_failed", "the request body must be a JSON object", {"body": "must be an object"}
        )
    return body


def text_problem(value: str) -> str | None:
    """Why PostgreSQL (or UTF-8) cannot store this text, or None when it can."""
    if "\x00" in value:
        return "must not contain NUL characters"
    if any("\ud800" <= ch <= "\udfff" for ch in value):
        return "must not contain unpaired surrogate characters"
    return None


def ascii_int(raw: str) -> int:
    """An integer written in ASCII digits (int() would also take "١٢", "1_0" and " 12")."""
    digits = raw[1:] if raw.startswith("-") else raw
    if not raw.isascii() or not digits.isdigit():
        raise ValueError("must be an integer in ASCII digits")
    return int(raw)


def parse_moment(raw: str, *, end_of_day: bool) -> datetime:
    """An RFC 3339 date-time, or a full-date meaning that UTC day (its start, or the next day's start)."""
    if not raw.isascii():
        raise ValueError("must be an RFC 3339 date-time or date in ASCII digits")
    try:
        return _moment_of(raw, end_of_day=end_of_day)
    except OverflowError:
        raise ValueError("is outside the supported range of dates") from None


def _moment_of(raw: str, *, end_of_day: bool) -> datetime:
    """Parse a full-date or date-time; OverflowError at the ends of the calendar (9999-12-31, 0001-01-01)."""
    if len(raw) == 10 and "T" not in raw.upper():
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            raise ValueError("must be an RFC 3339 date-time or date") from None
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return start + timedelta(days=1) if end_of_day else start
    try:
        return parse_timestamp(raw)
    except EventValidationError:
        raise ValueError("must be an RFC 3339 date-time with a time zone, or a date") from None
