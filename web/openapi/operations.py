"""What each API endpoint takes and answers, in terms of the schemas its parsers are built on.

The document builder walks the app's url_map, so a route cannot be missed; this table adds what the
rule alone cannot say. tests/web/test_openapi.py fails when an /api endpoint has no entry here.
"""

from __future__ import annotations

from typing import Any

from web.audit.activity import RANGES
from web.audit.schemas import AUDIT_PAGE_SCHEMA, AUDIT_QUERY_PARAMETERS, HISTORY_SCHEMA
from web.auth.schemas import ACCOUNT_SCHEMA, TOKENS_SCHEMA, credentials_schema
from web.tasks.schemas import TASK_INPUT_SCHEMA, TASK_QUERY_PARAMETERS, TASK_SCHEMA

OBJECT: dict[str, Any] = {"type": "object"}
COUNTS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["source"],
    "properties": {"source": {"enum": ["stream", "database"]}},
    "additionalProperties": {"type": ["integer", "string"]},
}
EXPORT_QUERY: dict[str, dict[str, Any]] = {
    "format": {"type": "string", "enum": ["csv", "ndjson"], "default": "csv"},
    **AUDIT_QUERY_PARAMETERS,
}
EXPORT_MEDIA = {
    "text/csv": {"schema": {"type": "string"}},
    "application/x-ndjson": {"schema": {"type": "string"}},
}
ACTIVITY_QUERY: dict[str, dict[str, Any]] = {
    "range": {"type": "string", "enum": list(RANGES), "default": "24h"}
}
PUBLIC: dict[str, Any] = {"security": []}
THROTTLED = (429, 503)
BODY = (400, 413, 422)


def op(
    status: int,
    schema: dict[str, Any] | None = None,
    *,
    body: dict[str, Any] | None = None,
    query: dict[str, dict[str, Any]] | None = None,
    errors: tuple[int, ...] = (),
    media: dict[str, dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One operation: its success status and schema, body, query parameters and extra error statuses."""
    return {
        "status": status,
        "schema": schema,
        "body": body,
        "query": query or {},
        "errors": errors,
        "media": media,
        **extra,
    }


OPERATIONS: dict[str, dict[str, Any]] = {
    "auth.register": op(
        201,
        ACCOUNT_SCHEMA,
        body=credentials_schema(check_strength=True),
        errors=(*BODY, 409, *THROTTLED),
        **PUBLIC,
    ),
    "auth.login": op(
        200,
        TOKENS_SCHEMA,
        body=credentials_schema(check_strength=False),
        errors=(*BODY, 401, *THROTTLED),
        **PUBLIC,
    ),
    "auth.refresh": op(200, TOKENS_SCHEMA, errors=(429,), description="Takes the refresh token, once."),
    "auth.logout_api": op(204, description="Takes the access or the refresh token; revokes both."),
    "tasks.list_tasks": op(
        200, {"type": "array", "items": TASK_SCHEMA}, query=TASK_QUERY_PARAMETERS, errors=(422,)
    ),
    "tasks.create_task": op(201, TASK_SCHEMA, body=TASK_INPUT_SCHEMA, errors=BODY),
    "tasks.get_task": op(200, TASK_SCHEMA),
    "tasks.update_task": op(200, TASK_SCHEMA, body=TASK_INPUT_SCHEMA, errors=BODY),
    "tasks.delete_task": op(204),
    "tasks.toggle_task": op(200, TASK_SCHEMA),
    "audit.list_audit": op(200, AUDIT_PAGE_SCHEMA, query=AUDIT_QUERY_PARAMETERS, errors=(422,)),
    "audit.audit_counts": op(200, COUNTS_SCHEMA),
    "audit.audit_activity": op(200, OBJECT, query=ACTIVITY_QUERY, errors=(422,)),
    "audit.export_audit": op(200, query=EXPORT_QUERY, errors=(422,), media=EXPORT_MEDIA),
    "audit.verify_audit": op(200, OBJECT),
    "audit.task_history": op(200, HISTORY_SCHEMA),
    "webhooks.list_webhooks": op(200, {"type": "array", "items": OBJECT}),
    "webhooks.create_webhook": op(201, OBJECT, body=OBJECT, errors=BODY),
    "webhooks.delete_webhook": op(204),
    "webhooks.list_deliveries": op(200, {"type": "array", "items": OBJECT}),
    "webhooks.rotate_webhook_secret": op(200, OBJECT),
    "webhooks.redeliver": op(200, OBJECT, errors=(409,)),
    "openapi.openapi_document": op(200, OBJECT, **PUBLIC),
}
