"""The webhooks settings page: add an endpoint and see its secret once, see deliveries, redeliver."""

from __future__ import annotations

import re
import uuid

from flask.testing import FlaskClient
from sqlalchemy import Engine, func, insert, select, update

from shared.models import WebhookDelivery, WebhookEndpoint
from tests.web.test_pages import page_token, sign_up


def test_adding_an_endpoint_shows_its_secret_once(client: FlaskClient, engine: Engine) -> None:
    sign_up(client)
    data = {
        "csrf_token": page_token(client, "/settings/webhooks"),
        "url": "https://hooks.example.com/todo",
        "event_type": ["completed"],
    }
    added = client.post("/settings/webhooks", data=data)
    assert added.status_code == 201
    html = added.get_data(as_text=True)
    secret = re.search(r'<code id="webhook-secret">(whsec_[^<]+)</code>', html)
    assert secret is not None
    with engine.connect() as conn:
        assert conn.scalar(select(WebhookEndpoint.secret)) == secret.group(1)

    again = client.get("/settings/webhooks").get_data(as_text=True)
    assert "https://hooks.example.com/todo" in again
    assert secret.group(1) not in again


def test_a_refused_url_is_named_next_to_the_field(client: FlaskClient) -> None:
    sign_up(client)
    data = {
        "csrf_token": page_token(client, "/settings/webhooks"),
        "url": "http://192.168.0.10/",
        "event_type": [],
    }
    refused = client.post("/settings/webhooks", data=data)
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert 'id="url-error"' in html
    assert "Must point at a public address" in html
    assert "Must be a non-empty list" in html


def test_a_disabled_endpoint_is_explained_and_a_failed_delivery_can_be_redelivered(
    client: FlaskClient, engine: Engine
) -> None:
    sign_up(client)
    token = page_token(client, "/settings/webhooks")
    client.post(
        "/settings/webhooks",
        data={"csrf_token": token, "url": "https://hooks.example.com/x", "event_type": ["created"]},
    )
    with engine.begin() as conn:
        endpoint_id = conn.scalar(select(WebhookEndpoint.id))
        conn.execute(
            update(WebhookEndpoint).values(
                disabled_at=func.now(), disabled_reason="deliveries failed for 24 hours; last error: HTTP 500"
            )
        )
        conn.execute(
            insert(WebhookDelivery).values(
                endpoint_id=endpoint_id,
                event_id=uuid.uuid4(),
                event_type="created",
                payload={},
                status="failed",
                attempts=8,
                last_status=500,
                last_error="HTTP 500",
            )
        )
    html = client.get("/settings/webhooks").get_data(as_text=True)
    assert "Disabled on" in html
    assert "last error: HTTP 500" in html
    action = re.search(r'action="(/settings/webhooks/deliveries/\d+/redeliver)"', html)
    assert action is not None

    moved = client.post(action.group(1), data={"csrf_token": token})
    assert moved.status_code == 303
    with engine.connect() as conn:
        assert conn.scalar(select(WebhookDelivery.status)) == "pending"
        assert conn.scalar(select(WebhookEndpoint.disabled_at)) is None
    assert "Disabled on" not in client.get("/settings/webhooks").get_data(as_text=True)
