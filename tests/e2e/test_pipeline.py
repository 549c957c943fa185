"""The real pipeline end to end: HTTP API -> outbox -> relay -> Tansu -> Faust -> audit_log, mail, counts."""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from flask import Flask
from sqlalchemy import Connection, Engine, Row, func, select

from shared.models import AuditLog, OutboxEvent, SentNotification
from tests.fixtures.pipeline import Pipeline
from tests.fixtures.streams import wait_for

pytestmark = [pytest.mark.slow]
PASSWORD = "correct horse battery"


@pytest.fixture
def live_app(pipeline: Pipeline) -> Flask:
    """Serve the pipeline's app, whose relay and worker are running."""
    return pipeline.app


class Api:
    """One registered user talking to the live server over real HTTP."""

    def __init__(self, base_url: str, email: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=10, trust_env=False)
        self.email = email
        created = self.http.post("/api/auth/register", json={"email": email, "password": PASSWORD})
        assert created.status_code == 201, created.text
        login = self.http.post("/api/auth/login", json={"email": email, "password": PASSWORD}).json()
        self.user_id: str = login["user_id"]
        self.http.headers["Authorization"] = f"Bearer {login['access_token']}"

    def call(self, method: str, path: str, status: int, **kwargs: Any) -> Any:
        """Send a request under /api/<user_id>, check its status and return the JSON body (if any)."""
        response = self.http.request(method, f"/api/{self.user_id}{path}", **kwargs)
        assert response.status_code == status, response.text
        return response.json() if response.content else None


@pytest.fixture
def api(live_url: str) -> Iterator[Api]:
    """A fresh user (unique email, so the module's shared mail sink tells tests apart)."""
    client = Api(live_url, f"pipeline-{uuid.uuid4().hex[:8]}@example.com")
    yield client
    client.http.close()


def audit_rows(conn: Connection, user_id: str, *, at_least: int = 0) -> list[Row[Any]]:
    """The user's audit rows in insertion order (none until there are `at_least`), read afresh."""
    conn.rollback()
    rows = list(conn.execute(select(AuditLog).where(AuditLog.user_id == user_id).order_by(AuditLog.id)))
    return rows if len(rows) >= at_least else []


def audit_count(conn: Connection, user_id: str) -> int:
    """How many audit rows the user has, read in a fresh transaction."""
    conn.rollback()
    return int(conn.scalar(select(func.count()).where(AuditLog.user_id == user_id)) or 0)


def outbox_events(engine: Engine, user_id: str) -> list[dict[str, Any]]:
    """The events the app committed for the user, in commit order."""
    with engine.connect() as conn:
        stmt = select(OutboxEvent.payload).where(OutboxEvent.user_id == user_id).order_by(OutboxEvent.id)
        return list(conn.scalars(stmt))


def test_a_tasks_life_reaches_the_audit_log_mail_and_counts(
    pipeline: Pipeline, api: Api, engine: Engine
) -> None:
    print(f"\nworker ready {pipeline.ready_seconds:.1f} s after start")
    task = api.call("POST", "/tasks", 201, json={"title": "Draft the plan", "description": "v1"})
    path = f"/tasks/{task['id']}"
    api.call("PUT", path, 200, json={"title": "Final plan", "description": "v2"})
    assert api.call("PATCH", f"{path}/complete", 200)["completed"] is True
    assert api.call("PATCH", f"{path}/complete", 200)["completed"] is False
    api.call("DELETE", path, 204)

    with engine.connect() as conn:
        rows = wait_for(lambda: audit_rows(conn, api.user_id, at_least=5), what="five audit rows")
    published = outbox_events(engine, api.user_id)
    assert [row.event_type for row in rows] == ["created", "updated", "completed", "updated", "deleted"]
    assert [row.event_data for row in rows] == published
    assert len({row.event_id for row in rows}) == 5
    assert [row.event_data["task_data"] for row in rows] == [
        {"title": "Draft the plan", "description": "v1", "completed": False},
        {"title": "Final plan", "description": "v2", "completed": False},
        {"title": "Final plan", "description": "v2", "completed": True},
        {"title": "Final plan", "description": "v2", "completed": False},
        {"title": "Final plan", "description": "v2", "completed": False},
    ]
    assert {(row.user_id, row.task_id) for row in rows} == {(api.user_id, task["id"])}

    expected = {"created": 1, "updated": 2, "completed": 1, "deleted": 1, "total": 5, "source": "stream"}
    wait_for(lambda: api.call("GET", "/audit/counts", 200) == expected, what="the stream's counts")
    [mail] = wait_for(lambda: pipeline.mails_to(api.email), what="the completion mail")
    assert "Final plan" in mail["Subject"]
    assert "Final plan" in mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    time.sleep(1.0)  # a second mail (a redelivery) would come right behind the first
    assert len(pipeline.mails_to(api.email)) == 1
    with engine.connect() as conn:
        sent = conn.scalar(select(func.count()).where(SentNotification.recipient == api.email))
    assert sent == 1
    with engine.connect() as conn:
        assert len(audit_rows(conn, api.user_id)) == 5

    history = api.call("GET", f"{path}/history", 200)["items"]
    assert [item["changes"] for item in history] == [
        {"title": [None, "Draft the plan"], "description": [None, "v1"], "completed": [None, False]},
        {"title": ["Draft the plan", "Final plan"], "description": ["v1", "v2"]},
        {"completed": [False, True]},
        {"completed": [True, False]},
        {},
    ]


def operations(api: Api) -> Iterator[str]:
    """Fifty task changes of every kind, one HTTP request each; yields the event type each should cause."""
    ids = []
    for n in range(20):
        ids.append(api.call("POST", "/tasks", 201, json={"title": f"task {n}"})["id"])
        yield "created"
    for task_id in ids[:10]:
        api.call("PUT", f"/tasks/{task_id}", 200, json={"title": f"task {task_id} renamed"})
        yield "updated"
    for task_id in ids[:10]:
        api.call("PATCH", f"/tasks/{task_id}/complete", 200)
        yield "completed"
    for task_id in ids[10:20]:
        api.call("DELETE", f"/tasks/{task_id}", 204)
        yield "deleted"


def pending_count(conn: Connection, user_id: str) -> int:
    """How many of the user's outbox rows the relay has not published yet."""
    conn.rollback()
    stmt = select(func.count()).where(OutboxEvent.user_id == user_id, OutboxEvent.published_at.is_(None))
    return int(conn.scalar(stmt) or 0)


def percentiles(seconds: list[float]) -> str:
    """p50, p99 and max in milliseconds."""
    cuts = statistics.quantiles(seconds, n=100, method="inclusive")
    return f"p50 {cuts[49] * 1000:.0f} ms, p99 {cuts[98] * 1000:.0f} ms, max {max(seconds) * 1000:.0f} ms"


def test_commit_to_audit_row_latency(pipeline: Pipeline, api: Api, engine: Engine) -> None:
    published: list[float] = []
    audited: list[float] = []
    kinds: list[str] = []
    with engine.connect() as conn:
        for kind in operations(api):
            answered = time.monotonic()  # the response leaves after the commit
            kinds.append(kind)
            wait_for(lambda: pending_count(conn, api.user_id) == 0, interval=0.002, timeout=10)
            published.append(time.monotonic() - answered)
            wait_for(lambda: audit_count(conn, api.user_id) == len(kinds), interval=0.002, timeout=10)
            audited.append(time.monotonic() - answered)
        rows = audit_rows(conn, api.user_id)
    print(f"\nHTTP commit -> broker ack over {len(published)} operations: {percentiles(published)}")
    print(f"HTTP commit -> audit row over {len(audited)} operations: {percentiles(audited)}")
    assert max(audited) < 10
    assert [row.event_type for row in rows] == kinds
    assert [row.event_data for row in rows] == outbox_events(engine, api.user_id)
    expected = {"created": 20, "updated": 10, "completed": 10, "deleted": 10, "total": 50, "source": "stream"}
    wait_for(lambda: api.call("GET", "/audit/counts", 200) == expected, what="the stream's counts")
