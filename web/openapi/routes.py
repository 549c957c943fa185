"""GET /api/openapi.json."""

from __future__ import annotations

from flask import Response, current_app, jsonify

from web.openapi import bp
from web.openapi.document import build_document


@bp.get("/api/openapi.json")
def openapi_document() -> Response:
    """The OpenAPI 3.1 document of every /api route, as this app serves them."""
    return jsonify(build_document(current_app))
