"""The task API under /api/<user_id>/tasks, bearer token required."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Response, jsonify, request
from flask_jwt_extended import get_jwt_identity, jwt_required

from web.errors import ApiError, ValidationFailed
from web.extensions import db
from web.requests import json_body
from web.tasks import bp, services
from web.tasks.schemas import parse_task_input, parse_task_query, task_json

F = TypeVar("F", bound=Callable[..., Any])


def owner_only(view: F) -> F:
    """Bearer token required, and the path's user_id must be the token's subject."""

    @wraps(view)
    @jwt_required(locations=["headers"])
    def wrapper(user_id: str, *args: Any, **kwargs: Any) -> Any:
        if get_jwt_identity() != user_id:
            raise ApiError(403, "forbidden", "this token cannot act for that user")
        return view(user_id, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _not_found(task_id: int) -> ApiError:
    """The 404 for a task that is missing or belongs to someone else."""
    return ApiError(404, "task_not_found", f"task {task_id} not found")


@bp.get("/api/<user_id>/tasks")
@owner_only
def list_tasks(user_id: str) -> Response:
    """List the user's tasks with status filter, text search and sort; as_of rebuilds a past list."""
    query, errors = parse_task_query(request.args.to_dict())
    if query is None:
        raise ValidationFailed(errors)
    listing = services.list_tasks_as_of if query.as_of else services.list_tasks
    tasks = listing(session=db.session, user_id=user_id, query=query)
    return jsonify([task_json(task) for task in tasks])


@bp.post("/api/<user_id>/tasks")
@owner_only
def create_task(user_id: str) -> tuple[Response, int]:
    """Create a task."""
    data, errors = parse_task_input(json_body())
    if data is None:
        raise ValidationFailed(errors)
    task = services.create_task(
        session=db.session, user_id=user_id, title=data.title, description=data.description
    )
    return jsonify(task_json(task)), 201


@bp.get("/api/<user_id>/tasks/<int:task_id>")
@owner_only
def get_task(user_id: str, task_id: int) -> Response:
    """One task."""
    task = services.get_task(session=db.session, user_id=user_id, task_id=task_id)
    if task is None:
        raise _not_found(task_id)
    return jsonify(task_json(task))


@bp.put("/api/<user_id>/tasks/<int:task_id>")
@owner_only
def update_task(user_id: str, task_id: int) -> Response:
    """Replace a task's title and description."""
    data, errors = parse_task_input(json_body())
    if data is None:
        raise ValidationFailed(errors)
    task = services.update_task(
        session=db.session, user_id=user_id, task_id=task_id, title=data.title, description=data.description
    )
    if task is None:
        raise _not_found(task_id)
    return jsonify(task_json(task))


@bp.delete("/api/<user_id>/tasks/<int:task_id>")
@owner_only
def delete_task(user_id: str, task_id: int) -> tuple[str, int]:
    """Delete a task."""
    if not services.delete_task(session=db.session, user_id=user_id, task_id=task_id):
        raise _not_found(task_id)
    return "", 204


@bp.patch("/api/<user_id>/tasks/<int:task_id>/complete")
@owner_only
def toggle_task(user_id: str, task_id: int) -> Response:
    """Toggle a task's completed flag."""
    task = services.toggle_task(session=db.session, user_id=user_id, task_id=task_id)
    if task is None:
        raise _not_found(task_id)
    return jsonify(task_json(task))
