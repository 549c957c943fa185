"""The audit API under /api/<user_id>/audit (and a task's history), bearer token required, own trail only."""

from __future__ import annotations

from flask import Response, current_app, jsonify, request

from web.audit import activity, bp, counts, export, services, verify
from web.audit.schemas import AuditQuery, entry_json, history_items, parse_audit_query
from web.errors import ApiError, ValidationFailed
from web.extensions import db
from web.tasks.routes import owner_only


def _query() -> AuditQuery:
    """The request's audit filters, or a 422 naming each bad field."""
    query, errors = parse_audit_query(request.args)
    if query is None:
        raise ValidationFailed(errors)
    return query


@bp.get("/api/<user_id>/audit")
@owner_only
def list_audit(user_id: str) -> Response:
    """One keyset page of the user's trail."""
    page = services.list_events(session=db.session, user_id=user_id, query=_query())
    next_cursor = page.next_cursor.encode() if page.next_cursor else None
    return jsonify({"items": [entry_json(row) for row in page.rows], "next_cursor": next_cursor})


@bp.get("/api/<user_id>/audit/counts")
@owner_only
def audit_counts(user_id: str) -> Response:
    """Events per type, from the stream worker's table or, when it is unreachable, from audit_log."""
    return jsonify(counts.user_counts(session=db.session, user_id=user_id))


@bp.get("/api/<user_id>/audit/activity")
@owner_only
def audit_activity(user_id: str) -> Response:
    """Events per type by hour (range=24h) or by day (range=30d), from the stream or audit_log."""
    span, errors = activity.parse_range(request.args.get("range"))
    if span is None:
        raise ValidationFailed(errors)
    settings = current_app.config["TODO_SETTINGS"]
    return jsonify(activity.user_activity(session=db.session, settings=settings, user_id=user_id, span=span))


@bp.get("/api/<user_id>/audit/export")
@owner_only
def export_audit(user_id: str) -> Response:
    """The whole filtered trail as a streamed CSV or NDJSON download."""
    fmt, errors = export.parse_format(request.args.get("format"))
    query, query_errors = parse_audit_query(request.args)
    errors.update(query_errors)
    if fmt is None or query is None:
        raise ValidationFailed(errors)
    return export.export_response(session=db.session, user_id=user_id, query=query, fmt=fmt)


@bp.get("/api/<user_id>/audit/verify")
@owner_only
def verify_audit(user_id: str) -> Response:
    """Recompute the user's hash chain: intact with its row count, or the first broken link."""
    return jsonify(verify.verify_trail(session=db.session, user_id=user_id).to_json())


@bp.get("/api/<user_id>/tasks/<int:task_id>/history")
@owner_only
def task_history(user_id: str, task_id: int) -> Response:
    """A task's events in order, each with what changed since the one before (deleted tasks too)."""
    rows = services.task_history(session=db.session, user_id=user_id, task_id=task_id)
    if not rows:
        raise ApiError(404, "task_not_found", f"no events for task {task_id}")
    return jsonify({"task_id": task_id, "items": history_items(rows)})
