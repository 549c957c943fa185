"""`/healthz` says the process is alive; `/readyz` that it can serve (database reachable)."""

from __future__ import annotations

from flask import Response, jsonify

from web.extensions import db
from web.health import bp
from web.health.services import database_problem


@bp.get("/healthz")
def healthz() -> Response:
    """Alive: the process answers."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Ready: the database answers a query."""
    problem = database_problem(session=db.session)
    if problem:
        return jsonify({"status": "unready", "checks": {"database": problem}}), 503
    return jsonify({"status": "ready", "checks": {"database": "ok"}}), 200
