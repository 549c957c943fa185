"""The audit pages: the trail with filters, counts and live updates; a task's timeline; the page exports.

Filters live in the query string (one parser with the API), so every view can be bookmarked. Live
updates poll `/audit/live` every few seconds with htmx; it answers rows stored since the page's
`after` id plus fresh counts, swapped in out of band.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from flask import Response, abort, current_app, g, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict

from shared.events import EVENT_TYPES
from web.audit import activity, bp, counts, export, services
from web.audit.schemas import AuditQuery, history_items, parse_audit_query
from web.extensions import db
from web.sessions import page_login_required

TYPE_LABELS = {"created": "Created", "updated": "Updated", "completed": "Completed", "deleted": "Deleted"}
SORT_LABELS = {"-timestamp": "Newest first", "timestamp": "Oldest first"}
FIELD_LABELS = {"title": "Title", "description": "Notes", "completed": "Done"}


def _url(endpoint: str, args: list[tuple[str, str]], **extra: Any) -> str:
    """A URL for `endpoint` carrying repeatable query-string pairs."""
    pairs = MultiDict(args)
    for name, value in extra.items():
        pairs.add(name, str(value))
    values: dict[str, Any] = {key: pairs.getlist(key) for key in pairs}
    return url_for(endpoint, **values)


def _live(query: AuditQuery, after: int, *, recount: bool = False) -> dict[str, Any]:
    """Where the live poller asks next, and whether new rows go on top of the visible list."""
    prepend = query.cursor is None and query.descending
    extra: dict[str, Any] = {"after": after, "recount": 1} if recount else {"after": after}
    return {"after": after, "prepend": prepend, "url": _url("audit.live", query.to_args(), **extra)}


def _form_values(query: AuditQuery | None) -> dict[str, Any]:
    """What the filter form shows: the valid query, or what was typed when it was refused."""
    if query is None:
        args = request.args
        fields = ("q", "task_id", "since", "until", "sort")
        return {**{name: args.get(name, "") for name in fields}, "event_types": args.getlist("event_type")}
    until = (query.until - timedelta(microseconds=1)).date().isoformat() if query.until else ""
    return {
        "q": query.q,
        "task_id": query.task_id or "",
        "since": query.since.date().isoformat() if query.since else "",
        "until": until,
        "sort": query.sort,
        "event_types": query.event_types,
    }


def _chips(query: AuditQuery) -> list[dict[str, str]]:
    """One removable chip per active filter: its label and the page without just that filter."""
    removals: list[tuple[str, AuditQuery]] = [
        (TYPE_LABELS[kind], replace(query, event_types=tuple(k for k in query.event_types if k != kind)))
        for kind in query.event_types
    ]
    if query.task_id:
        removals.append((f"Task {query.task_id}", replace(query, task_id=None)))
    if query.q:
        removals.append((f"Search: {query.q}", replace(query, q="")))
    values = _form_values(query)
    if query.since:
        removals.append((f"From {values['since']}", replace(query, since=None)))
    if query.until:
        removals.append((f"To {values['until']}", replace(query, until=None)))
    return [
        {"label": label, "url": _url("audit.audit_page", narrower.first_page().to_args())}
        for label, narrower in removals
    ]


def _activity() -> dict[str, Any]:
    """Both activity charts' series for the signed-in user (stream first, audit_log as fallback)."""
    settings = current_app.config["TODO_SETTINGS"]
    return {
        key: activity.user_activity(session=db.session, settings=settings, user_id=g.user_id, span=span)
        for key, span in (("day", activity.RANGES["24h"]), ("month", activity.RANGES["30d"]))
    }


def _page_context(query: AuditQuery) -> dict[str, Any]:
    """Everything the trail page shows for a valid query."""
    page = services.list_events(session=db.session, user_id=g.user_id, query=query)
    links = {
        name: _url("audit.audit_page", query.to_args(cursor=cursor)) if cursor else None
        for name, cursor in (("older", page.next_cursor), ("newer", page.prev_cursor))
    }
    if not query.descending:
        links = {"older": links["newer"], "newer": links["older"]}
    return {"rows": page.rows, "links": links, "live": _live(query, services.latest_id(session=db.session))}


@bp.get("/audit")
@page_login_required
def audit_page() -> ResponseReturnValue:
    """The signed-in user's trail; bad filters are shown next to their fields with a 422."""
    query, errors = parse_audit_query(request.args)
    context = _page_context(query) if query else {"rows": [], "links": {}, "live": None}
    shown = query or AuditQuery()
    return render_template(
        "audit/index.html",
        query=shown,
        errors=errors,
        counts=counts.user_counts(session=db.session, user_id=g.user_id),
        activity=_activity(),
        type_labels=TYPE_LABELS,
        sort_labels=SORT_LABELS,
        event_types=EVENT_TYPES,
        form=_form_values(query),
        chips=_chips(query) if query else [],
        export_links={
            fmt: _url("audit.export_page", shown.to_args(limit=False), format=fmt) for fmt in export.FORMATS
        },
        **context,
    ), (422 if errors else 200)


@bp.get("/audit/live")
@page_login_required
def live() -> ResponseReturnValue:
    """Rows stored after `after` matching the page's filters, the next poll's URL, counts when changed.

    Counts are fetched only when rows arrived, and once more on the poll after (`recount`): the
    stream's table may trail audit_log by a moment, and a quiet 3 s poll should cost one query.
    """
    query, _errors = parse_audit_query(request.args)
    after = request.args.get("after", "")
    if query is None or not after.isdigit():
        abort(422)
    rows = services.events_since(session=db.session, user_id=g.user_id, query=query, after_id=int(after))
    newest = max([int(after), *(row.id for row in rows)])
    recount = bool(rows) or request.args.get("recount") == "1"
    return render_template(
        "audit/_live.html",
        rows=rows,
        live=_live(query, newest, recount=bool(rows)),
        newest_url=_url("audit.audit_page", query.first_page().to_args()),
        counts=counts.user_counts(session=db.session, user_id=g.user_id) if recount else None,
        activity=_activity() if recount else None,
        type_labels=TYPE_LABELS,
    )


@bp.get("/audit/export")
@page_login_required
def export_page() -> Response:
    """The page's export buttons: the same stream as the API, authorised by the session cookie."""
    fmt, _ = export.parse_format(request.args.get("format"))
    query, _errors = parse_audit_query(request.args)
    if fmt is None or query is None:
        abort(422)
    return export.export_response(session=db.session, user_id=g.user_id, query=query, fmt=fmt)


@bp.get("/audit/tasks/<int:task_id>")
@page_login_required
def task_timeline(task_id: int) -> ResponseReturnValue:
    """One task's events oldest first, each showing what changed (works after the task is deleted)."""
    rows = services.task_history(session=db.session, user_id=g.user_id, task_id=task_id)
    if not rows:
        abort(404, f"No recorded events for task {task_id}.")
    return render_template(
        "audit/timeline.html",
        task_id=task_id,
        items=history_items(rows),
        type_labels=TYPE_LABELS,
        field_labels=FIELD_LABELS,
    )
