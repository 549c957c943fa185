"""Reading API request bodies: 400 for what is not JSON, 422 for what is not an object."""

from __future__ import annotations

from typing import Any

from flask import request

from web.errors import ApiError


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
