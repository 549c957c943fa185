"""Task pages: the list with search and filters, and the forms that change tasks.

Every form posts and redirects (303) back to the list, keeping its filters; htmx posts the same forms
and swaps the refreshed list in, so the pages work the same with and without JavaScript.
"""

from __future__ import annotations

import re
from typing import Any

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from shared.models import Task
from web.extensions import db
from web.sessions import page_login_required
from web.tasks import bp, services
from web.tasks.schemas import MAX_DESCRIPTION, MAX_TITLE, TaskQuery, parse_task_input, parse_task_query

# The schemas module validates; these are the words the list page shows for its choices.
STATUS_LABELS = {"all": "All", "pending": "Pending", "completed": "Completed"}
SORT_LABELS = {
    "-created_at": "Newest first",
    "created_at": "Oldest first",
    "-updated_at": "Recently changed",
    "title": "Title A to Z",
}


LOCAL_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?")


def _query_args() -> dict[str, str]:
    """The query string, with the page's "as of" field (a zone-less datetime-local) read as UTC."""
    args = request.args.to_dict()
    as_of = args.get("as_of", "").strip()
    if LOCAL_MOMENT.fullmatch(as_of):
        args["as_of"] = (as_of if len(as_of) == 19 else f"{as_of}:00") + "Z"
    return args


def _list_args() -> dict[str, Any]:
    """The list's filters from this request's query string, without the defaults (or {} if bad)."""
    query, _errors = parse_task_query(_query_args())
    if query is None:
        return {}
    defaults = TaskQuery()
    names = ("q", "status", "sort")
    return {name: getattr(query, name) for name in names if getattr(query, name) != getattr(defaults, name)}


def _back_to_list() -> ResponseReturnValue:
    """Redirect to the list with the filters the user was looking at."""
    return redirect(url_for("tasks.index", **_list_args()), code=303)


def _render_list(status: int = 200, **context: Any) -> tuple[str, int]:
    """Render the list page for the signed-in user; bad filters show their errors over the full list."""
    query, query_errors = parse_task_query(_query_args())
    query = query or TaskQuery()
    listing = services.list_tasks_as_of if query.as_of else services.list_tasks
    tasks = listing(session=db.session, user_id=g.user_id, query=query)
    context.setdefault("errors", {})
    context.setdefault("values", {})
    return render_template(
        "tasks/index.html",
        tasks=tasks,
        query=query,
        query_errors=query_errors,
        list_args=_list_args(),
        status_labels=STATUS_LABELS,
        sort_labels=SORT_LABELS,
        max_title=MAX_TITLE,
        max_description=MAX_DESCRIPTION,
        **context,
    ), (422 if query_errors else status)


def _render_edit(
    task: Task, *, values: Any, errors: dict[str, str] | None = None, status: int = 200
) -> tuple[str, int]:
    """Render the edit form for a task with the given field values and errors."""
    page = render_template(
        "tasks/edit.html",
        task=task,
        values=values,
        errors=errors or {},
        list_args=_list_args(),
        max_title=MAX_TITLE,
        max_description=MAX_DESCRIPTION,
    )
    return page, status


def _own_task(task_id: int) -> Task:
    """The signed-in user's task, or a 404 page."""
    task = services.get_task(session=db.session, user_id=g.user_id, task_id=task_id)
    if task is None:
        abort(404, description=f"There is no task {task_id} in your list.")
    return task


@bp.get("/")
@page_login_required
def index() -> ResponseReturnValue:
    """The signed-in user's tasks, searched, filtered and sorted as asked."""
    return _render_list()


@bp.post("/tasks")
@page_login_required
def create() -> ResponseReturnValue:
    """Add a task; bad input re-renders the list with the form's errors (422)."""
    data, errors = parse_task_input(request.form.to_dict())
    if data is None:
        return _render_list(422, errors=errors, values=request.form)
    user_id = g.user_id
    services.create_task(session=db.session, user_id=user_id, title=data.title, description=data.description)
    flash("Task added.", "success")
    return _back_to_list()


@bp.route("/tasks/<int:task_id>/edit", methods=["GET", "POST"])
@page_login_required
def edit_page(task_id: int) -> ResponseReturnValue:
    """Change a task's title and description; bad input re-renders the form (422)."""
    task = _own_task(task_id)
    if request.method == "GET":
        return _render_edit(task, values={"title": task.title, "description": task.description})
    data, errors = parse_task_input(request.form.to_dict())
    if data is None:
        return _render_edit(task, values=request.form, errors=errors, status=422)
    services.update_task(
        session=db.session, user_id=g.user_id, task_id=task_id, title=data.title, description=data.description
    )
    flash("Task saved.", "success")
    return _back_to_list()


@bp.post("/tasks/<int:task_id>/toggle")
@page_login_required
def toggle(task_id: int) -> ResponseReturnValue:
    """Mark a task completed, or pending again."""
    task = services.toggle_task(session=db.session, user_id=g.user_id, task_id=task_id)
    if task is None:
        abort(404, description=f"There is no task {task_id} in your list.")
    flash(f"Marked “{task.title}” as {'completed' if task.completed else 'pending'}.", "success")
    return _back_to_list()


@bp.post("/tasks/<int:task_id>/delete")
@page_login_required
def delete(task_id: int) -> ResponseReturnValue:
    """Delete a task."""
    task = _own_task(task_id)
    title = task.title
    if not services.delete_task(session=db.session, user_id=g.user_id, task_id=task_id):
        abort(404, description=f"There is no task {task_id} in your list.")
    flash(f"Deleted “{title}”.", "success")
    return _back_to_list()
