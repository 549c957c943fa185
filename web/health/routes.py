"""`/healthz` says the process is alive; `/readyz` that it can serve (database up, events flowing)."""

from __future__ import annotations

from flask import Response, current_app, jsonify

from web.extensions import db
from web.health import bp
from web.health.services import database_problem, outbox_status


@bp.get("/healthz")
def healthz() -> Response:
    """Alive: the process answers."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Ready: the database answers a query and the outbox backlog is within its limits."""
    problem = database_problem(session=db.session)
    if problem:
        return jsonify({"status": "unready", "checks": {"database": problem}}), 503
    outbox, backlog_problem = outbox_status(session=db.session, settings=current_app.config["TODO_SETTINGS"])
    if backlog_problem:
        outbox["problem"] = backlog_problem
        return jsonify({"status": "unready", "checks": {"database": "ok", "outbox": outbox}}), 503
    return jsonify({"status": "ready", "checks": {"database": "ok", "outbox": outbox}}), 200
