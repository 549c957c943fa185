"""Reading API input: 400 for a body that is not JSON, 422 for one not an object; storable text and ids."""

from __future__ import annotations

from typing import Any

from flask import request
from werkzeug.routing import IntegerConverter

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
