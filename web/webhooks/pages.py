"""The webhooks settings page: add, remove and rotate endpoints, see recent deliveries, redeliver."""

from __future__ import annotations

from flask import current_app, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from shared.events import EVENT_TYPES
from web.extensions import db
from web.sessions import page_login_required
from web.webhooks import bp, services
from web.webhooks.schemas import parse_endpoint


def _page(status: int = 200, **context: object) -> tuple[str, int]:
    """Render the page with every endpoint and its latest deliveries."""
    endpoints = services.list_endpoints(session=db.session, user_id=g.user_id)
    deliveries = {
        endpoint.id: services.recent_deliveries(
            session=db.session, user_id=g.user_id, endpoint_id=endpoint.id
        )
        for endpoint in endpoints
    }
    context.setdefault("errors", {})
    context.setdefault("form", {"url": "", "event_types": list(EVENT_TYPES)})
    return render_template(
        "webhooks/index.html", endpoints=endpoints, deliveries=deliveries, event_types=EVENT_TYPES, **context
    ), status


@bp.get("/settings/webhooks")
@page_login_required
def webhooks_page() -> ResponseReturnValue:
    """The user's endpoints and their recent deliveries."""
    return _page()


@bp.post("/settings/webhooks")
@page_login_required
def add_webhook() -> ResponseReturnValue:
    """Add an endpoint; the page then shows its secret, this once (never through a redirect)."""
    body = {"url": request.form.get("url", ""), "event_types": request.form.getlist("event_type")}
    allow_loopback = current_app.config["TODO_SETTINGS"].webhook_allow_loopback
    data, errors = parse_endpoint(body, allow_loopback=allow_loopback)
    if data is None:
        return _page(422, errors=errors, form=body)
    endpoint, secret = services.create_endpoint(
        session=db.session, user_id=g.user_id, url=data.url, event_types=data.event_types
    )
    return _page(201, shown_secret={"endpoint_id": endpoint.id, "secret": secret})


@bp.post("/settings/webhooks/<int:endpoint_id>/rotate")
@page_login_required
def rotate_webhook(endpoint_id: int) -> ResponseReturnValue:
    """Give an endpoint a new secret and show it this once."""
    rotated = services.rotate_secret(session=db.session, user_id=g.user_id, endpoint_id=endpoint_id)
    if rotated is None:
        return _page(404, page_error="That endpoint no longer exists.")
    endpoint, secret = rotated
    return _page(shown_secret={"endpoint_id": endpoint.id, "secret": secret})


@bp.post("/settings/webhooks/<int:endpoint_id>/delete")
@page_login_required
def delete_webhook_page(endpoint_id: int) -> ResponseReturnValue:
    """Remove an endpoint."""
    if services.delete_endpoint(session=db.session, user_id=g.user_id, endpoint_id=endpoint_id):
        flash("Webhook endpoint removed.", "success")
    return redirect(url_for("webhooks.webhooks_page"), code=303)


@bp.post("/settings/webhooks/deliveries/<int:delivery_id>/redeliver")
@page_login_required
def redeliver_page(delivery_id: int) -> ResponseReturnValue:
    """Queue a delivery again, re-enabling its endpoint."""
    if services.redeliver(session=db.session, user_id=g.user_id, delivery_id=delivery_id):
        flash("Delivery queued again.", "success")
    return redirect(url_for("webhooks.webhooks_page"), code=303)
