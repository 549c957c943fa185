"""The webhook API: register, list, rotate, delete and redeliver, own user only, bad input named."""

from __future__ import annotations

import uuid

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.orm import Session

from shared.models import WebhookDelivery, WebhookEndpoint
from tests.conftest import ApiUser, AuthActions


@pytest.fixture
def user(auth: AuthActions) -> ApiUser:
    """A signed-up API user."""
    return auth.register("owner@example.com")


def create(client: FlaskClient, user: ApiUser, **body: object) -> tuple[int, dict]:
    """POST a new endpoint; returns status and JSON."""
    response = client.post(f"/api/{user.user_id}/webhooks", json=body, headers=user.headers)
    return response.status_code, response.get_json()


def test_an_endpoint_is_created_with_its_secret_shown_once(client: FlaskClient, user: ApiUser) -> None:
    status, body = create(
        client, user, url="https://hooks.example.com/todo", event_types=["completed", "created"]
    )
    assert status == 201
    assert body["secret"].startswith("whsec_")
    assert len(body["secret"]) > 40
    assert body["event_types"] == ["created", "completed"]
    assert body["enabled"] is True

    listed = client.get(f"/api/{user.user_id}/webhooks", headers=user.headers).get_json()
    assert [item["url"] for item in listed] == ["https://hooks.example.com/todo"]
    assert "secret" not in listed[0]


def test_rotation_gives_a_new_secret(client: FlaskClient, user: ApiUser) -> None:
    _, body = create(client, user, url="https://hooks.example.com/a")
    rotated = client.post(f"/api/{user.user_id}/webhooks/{body['id']}/rotate", headers=user.headers)
    assert rotated.status_code == 200
    assert rotated.get_json()["secret"] != body["secret"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "url"),
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": "https://user:pw@example.com/x"}, "url"),
        ({"url": "http://10.0.0.5/hook"}, "url"),
        ({"url": "http://127.0.0.1:9/hook"}, "url"),
        ({"url": "http://[fe80::1]/hook"}, "url"),
        ({"url": "https://example.com/\x00"}, "url"),
        ({"url": "https://example.com:99999/"}, "url"),
        ({"url": "https://example.com/" + "a" * 2000}, "url"),
        ({"url": "https://example.com/", "event_types": []}, "event_types"),
        ({"url": "https://example.com/", "event_types": ["exploded"]}, "event_types"),
        ({"url": "https://example.com/", "event_types": "created"}, "event_types"),
    ],
)
def test_bad_endpoints_are_a_422_naming_the_field(
    client: FlaskClient, user: ApiUser, body: dict, field: str
) -> None:
    status, answer = create(client, user, **body)
    assert status == 422
    assert field in answer["error"]["fields"]


def test_only_the_owner_sees_or_changes_an_endpoint(
    client: FlaskClient, user: ApiUser, auth: AuthActions
) -> None:
    _, body = create(client, user, url="https://hooks.example.com/mine")
    other = auth.register("other@example.com")
    assert client.get(f"/api/{user.user_id}/webhooks", headers=other.headers).status_code == 403
    gone = client.delete(f"/api/{other.user_id}/webhooks/{body['id']}", headers=other.headers)
    assert gone.status_code == 404
    assert (
        client.delete(f"/api/{user.user_id}/webhooks/{body['id']}", headers=user.headers).status_code == 204
    )
    assert client.get(f"/api/{user.user_id}/webhooks", headers=user.headers).get_json() == []


def test_redeliver_queues_again_and_reenables_the_endpoint(
    client: FlaskClient, user: ApiUser, engine: Engine, auth: AuthActions
) -> None:
    _, body = create(client, user, url="https://hooks.example.com/x")
    with engine.begin() as conn:
        conn.execute(
            insert(WebhookDelivery).values(
                endpoint_id=body["id"],
                event_id=uuid.uuid4(),
                event_type="created",
                payload={},
                status="failed",
                attempts=8,
                last_status=500,
            )
        )
        conn.execute(update(WebhookEndpoint).values(disabled_at=func.now(), disabled_reason="failing"))
    listed = client.get(f"/api/{user.user_id}/webhooks/{body['id']}/deliveries", headers=user.headers)
    [delivery] = listed.get_json()
    assert (delivery["status"], delivery["attempts"]) == ("failed", 8)
    other = auth.register("stranger@example.com")
    path = f"/webhooks/deliveries/{delivery['id']}/redeliver"
    assert client.post(f"/api/{other.user_id}{path}", headers=other.headers).status_code == 404

    again = client.post(f"/api/{user.user_id}{path}", headers=user.headers)
    assert again.status_code == 200
    assert (again.get_json()["status"], again.get_json()["attempts"]) == ("pending", 0)
    with Session(engine) as session:
        assert session.scalar(select(WebhookEndpoint.disabled_at)) is None
