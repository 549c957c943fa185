"""Webhooks through the real pipeline: API, outbox, Kafka, worker, then a signed POST, in order, retried."""

from __future__ import annotations

import json

from flask.testing import FlaskClient
from sqlalchemy import Engine, select
from standardwebhooks.webhooks import Webhook

from shared.models import AuditLog
from tests.conftest import ApiUser, AuthActions
from tests.fixtures.pipeline import Pipeline
from tests.fixtures.streams import wait_for
from tests.fixtures.webhooks import Receiver


def sign_up(pipeline: Pipeline, email: str) -> tuple[FlaskClient, ApiUser]:
    """A user of the pipeline's app."""
    client = pipeline.app.test_client()
    return client, AuthActions(client).register(email)


def test_chosen_events_arrive_signed_in_order_and_a_5xx_is_retried(
    pipeline: Pipeline, engine: Engine, receiver: Receiver
) -> None:
    client, user = sign_up(pipeline, "hooked@example.com")
    base = f"/api/{user.user_id}"
    hook = client.post(
        f"{base}/webhooks",
        json={"url": f"{receiver.url}/todo", "event_types": ["created", "completed", "deleted"]},
        headers=user.headers,
    ).get_json()
    receiver.answers = [503]

    task = client.post(f"{base}/tasks", json={"title": "Ship it"}, headers=user.headers).get_json()
    client.put(
        f"{base}/tasks/{task['id']}", json={"title": "Ship it now", "description": ""}, headers=user.headers
    )
    client.patch(f"{base}/tasks/{task['id']}/complete", headers=user.headers)
    client.delete(f"{base}/tasks/{task['id']}", headers=user.headers)

    # The first attempt gets a 503; the retry waits its 5 s backoff and holds the later events back.
    wait_for(lambda: len(receiver.requests) >= 4, timeout=40, what="three deliveries after one retry")
    with engine.connect() as conn:
        events = conn.execute(
            select(AuditLog.event_id, AuditLog.event_type)
            .where(AuditLog.user_id == user.user_id)
            .order_by(AuditLog.id)
        ).all()
    chosen = [str(event_id) for event_id, kind in events if kind != "updated"]
    sent = [request.headers["webhook-id"] for request in receiver.requests]
    assert sent == [chosen[0], *chosen], (
        "the 503'd delivery is retried with the same id, then the rest in order"
    )
    verifier = Webhook(hook["secret"])
    bodies = [verifier.verify(request.body, request.headers) for request in receiver.requests[1:]]
    assert [body["event_type"] for body in bodies] == ["created", "completed", "deleted"]
    assert bodies[1]["task_data"] == {"title": "Ship it now", "description": "", "completed": True}
    assert all(request.path == "/todo" for request in receiver.requests)


def test_a_hanging_endpoint_never_holds_up_the_audit_trail(
    pipeline: Pipeline, engine: Engine, receiver: Receiver
) -> None:
    client, user = sign_up(pipeline, "slowhook@example.com")
    base = f"/api/{user.user_id}"
    client.post(f"{base}/webhooks", json={"url": receiver.url}, headers=user.headers)
    receiver.delay = 3.0  # longer than the worker's 1 s webhook timeout: every attempt times out

    for number in range(5):
        client.post(f"{base}/tasks", json={"title": f"Task {number}"}, headers=user.headers)

    def audited() -> int:
        with engine.connect() as conn:
            return len(conn.execute(select(AuditLog.id).where(AuditLog.user_id == user.user_id)).all())

    wait_for(lambda: audited() == 5, timeout=15, what="all five audit rows while the endpoint hangs")
    wait_for(lambda: receiver.requests, timeout=15, what="the first (timed-out) attempt")
    assert json.loads(receiver.requests[0].body)["task_data"]["title"] == "Task 0"
