"""The webhook API under /api/<user_id>/webhooks, bearer token required, own user only."""

from __future__ import annotations

from flask import Response, current_app, jsonify

from web.errors import ApiError, ValidationFailed
from web.extensions import db
from web.requests import json_body
from web.tasks.routes import owner_only
from web.webhooks import bp, services
from web.webhooks.schemas import delivery_json, endpoint_json, parse_endpoint


def _not_found(kind: str, ident: int) -> ApiError:
    """The 404 for something missing or someone else's."""
    return ApiError(404, f"{kind}_not_found", f"{kind} {ident} not found")


def _allow_loopback() -> bool:
    """Whether this deployment may send webhooks to loopback (development and tests)."""
    return bool(current_app.config["TODO_SETTINGS"].webhook_allow_loopback)


@bp.get("/api/<user_id>/webhooks")
@owner_only
def list_webhooks(user_id: str) -> Response:
    """The user's endpoints (secrets are never listed)."""
    endpoints = services.list_endpoints(session=db.session, user_id=user_id)
    return jsonify([endpoint_json(endpoint) for endpoint in endpoints])


@bp.post("/api/<user_id>/webhooks")
@owner_only
def create_webhook(user_id: str) -> tuple[Response, int]:
    """Register an endpoint; the answer carries its signing secret, shown this once."""
    data, errors = parse_endpoint(json_body(), allow_loopback=_allow_loopback())
    if data is None:
        raise ValidationFailed(errors)
    endpoint, secret = services.create_endpoint(
        session=db.session, user_id=user_id, url=data.url, event_types=data.event_types
    )
    return jsonify(endpoint_json(endpoint, secret=secret)), 201


@bp.delete("/api/<user_id>/webhooks/<int:endpoint_id>")
@owner_only
def delete_webhook(user_id: str, endpoint_id: int) -> tuple[str, int]:
    """Remove an endpoint and the deliveries it was still owed."""
    if not services.delete_endpoint(session=db.session, user_id=user_id, endpoint_id=endpoint_id):
        raise _not_found("webhook", endpoint_id)
    return "", 204


@bp.post("/api/<user_id>/webhooks/<int:endpoint_id>/rotate")
@owner_only
def rotate_webhook_secret(user_id: str, endpoint_id: int) -> Response:
    """Replace an endpoint's secret; the new one is shown this once."""
    rotated = services.rotate_secret(session=db.session, user_id=user_id, endpoint_id=endpoint_id)
    if rotated is None:
        raise _not_found("webhook", endpoint_id)
    endpoint, secret = rotated
    return jsonify(endpoint_json(endpoint, secret=secret))


@bp.get("/api/<user_id>/webhooks/<int:endpoint_id>/deliveries")
@owner_only
def list_deliveries(user_id: str, endpoint_id: int) -> Response:
    """An endpoint's recent deliveries, newest first."""
    if services.get_endpoint(session=db.session, user_id=user_id, endpoint_id=endpoint_id) is None:
        raise _not_found("webhook", endpoint_id)
    rows = services.recent_deliveries(session=db.session, user_id=user_id, endpoint_id=endpoint_id)
    return jsonify([delivery_json(row) for row in rows])


@bp.post("/api/<user_id>/webhooks/deliveries/<int:delivery_id>/redeliver")
@owner_only
def redeliver(user_id: str, delivery_id: int) -> Response:
    """Send a delivery again (and re-enable its endpoint)."""
    delivery = services.redeliver(session=db.session, user_id=user_id, delivery_id=delivery_id)
    if delivery is None:
        raise _not_found("delivery", delivery_id)
    return jsonify(delivery_json(delivery))
