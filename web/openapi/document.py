"""Build the OpenAPI 3.1 document by walking the app's /api routes and the operations table."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from werkzeug.routing import IntegerConverter, Rule

from web.openapi.operations import OPERATIONS, op
from web.requests import MAX_BIGINT

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        }
    },
}
REASONS = {
    200: "OK", 201: "Created", 204: "No content", 400: "Body is not JSON",
    401: "Missing, invalid, expired or revoked token",
    403: "The token cannot act for this user", 404: "Not found", 409: "Conflict", 413: "Body too large",
    422: "Invalid fields, each named", 429: "Too many attempts (Retry-After)", 503: "Busy (Retry-After)",
}  # fmt: skip
RETRY_AFTER = {"Retry-After": {"schema": {"type": "string"}, "description": "seconds to wait"}}
UNDOCUMENTED = op(200)
PATH_PARAMETER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def _error(status: int) -> dict[str, Any]:
    """A response in the API's one error shape."""
    response: dict[str, Any] = {
        "description": REASONS[status],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if status in (429, 503):
        response["headers"] = RETRY_AFTER
    return response


def _path_parameters(rule: Rule) -> list[dict[str, Any]]:
    """The rule's variables: ids are integers within PostgreSQL's bigint, the rest strings."""
    parameters = []
    for name in PATH_PARAMETER.findall(rule.rule):
        converter = rule._converters[name]  # Werkzeug keeps a rule's converters only here
        is_int = isinstance(converter, IntegerConverter)
        schema = {"type": "integer", "minimum": 0, "maximum": MAX_BIGINT} if is_int else {"type": "string"}
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
    return parameters


def _query_parameters(query: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Query parameters, arrays repeated (event_type=created&event_type=deleted)."""
    return [
        {"name": name, "in": "query", "required": False, "schema": schema, "style": "form", "explode": True}
        for name, schema in query.items()
    ]


def _operation(rule: Rule, view: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """One path item operation from its rule, view docstring and operations entry."""
    public = spec.get("security") == []
    statuses = set(spec["errors"]) | ({401} if not public else set())
    parameters = _path_parameters(rule)
    if any(p["name"] == "user_id" for p in parameters):
        statuses.add(403)
    if parameters:
        statuses.add(404)
    success: dict[str, Any] = {"description": REASONS[spec["status"]]}
    if spec["media"]:
        success["content"] = spec["media"]
    elif spec["schema"] is not None:
        success["content"] = {"application/json": {"schema": spec["schema"]}}
    operation: dict[str, Any] = {
        "operationId": rule.endpoint,
        "summary": (view.__doc__ or rule.endpoint).strip().splitlines()[0],
        **({"description": spec["description"]} if spec.get("description") else {}),
        "parameters": parameters + _query_parameters(spec["query"]),
        "responses": {str(spec["status"]): success, **{str(s): _error(s) for s in sorted(statuses)}},
    }
    if public:
        operation["security"] = []
    if spec["body"] is not None:
        body = {"application/json": {"schema": spec["body"]}}
        operation["requestBody"] = {"required": True, "content": body}
    return operation


def api_rules(app: Flask) -> list[Rule]:
    """Every JSON API route of the app."""
    return [rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/")]


def build_document(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every /api route (an undocumented one still appears, from its rule)."""
    paths: dict[str, dict[str, Any]] = {}
    for rule in api_rules(app):
        spec = OPERATIONS.get(
            rule.endpoint,
            {"status": 200, "schema": None, "body": None, "query": {}, "errors": (), "media": None},
        )
        path = PATH_PARAMETER.sub(r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(
                rule, app.view_functions[rule.endpoint], spec
            )
    return {
        "openapi": "3.1.0",
        "info": {"title": "todo-platform API", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR_SCHEMA},
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
        "security": [{"bearerAuth": []}],
    }
