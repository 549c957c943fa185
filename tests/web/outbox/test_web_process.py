"""The relay inside real gunicorn workers, and the backlog on /readyz."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, text
from werkzeug.test import TestResponse

from devstack.kafka import free_port
from shared.settings import Settings
from tests.conftest import AuthActions
from tests.fixtures.kafka import Topics
from tests.web.outbox.conftest import consume, pending_count, wait_until_published
from web import create_app
from web.extensions import db


def _call(url: str, body: dict[str, Any] | None = None, token: str = "") -> tuple[int, dict[str, Any]]:
    """POST JSON (or GET without a body) and return status and decoded body."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})  # noqa: S310
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310  (loopback)
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def gunicorn(database_url: str, kafka_bootstrap: str, kafka_topics: Topics, tmp_path: Path) -> Iterator[str]:
    """Two gunicorn workers with the in-process relay on, publishing to this test's topic."""
    port = free_port()
    env = {
        **os.environ,
        "APP_ENV": "test", "DATABASE_URL": database_url, "RELAY_ENABLED": "true", "EVENT_PUBLISHER": "kafka",
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "TASK_EVENTS_TOPIC": kafka_topics.events,
    }  # fmt: skip
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
        "web:create_app()",
    ]
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as out:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if _call(f"{base}/healthz")[0] == 200:
                break
        except OSError:
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.1)
    yield base
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    print(log.read_text())


@pytest.mark.slow
def test_gunicorn_workers_publish_each_event_once(
    gunicorn: str, engine: Engine, kafka_bootstrap: str, kafka_topics: Topics
) -> None:
    """Requests to either worker are published (one relay leads), each event exactly once."""
    assert (
        _call(
            f"{gunicorn}/api/auth/register", {"email": "w@example.com", "password": "correct horse battery"}
        )[0]
        == 201
    )
    _, login = _call(
        f"{gunicorn}/api/auth/login", {"email": "w@example.com", "password": "correct horse battery"}
    )
    for n in range(20):
        status, _ = _call(
            f"{gunicorn}/api/{login['user_id']}/tasks", {"title": f"g{n}"}, login["access_token"]
        )
        assert status == 201
    wait_until_published(engine, timeout=20)
    records = consume(kafka_bootstrap, kafka_topics.events, expect=20)
    assert sorted(r.event["task_data"]["title"] for r in records) == sorted(f"g{n}" for n in range(20))
    assert [r.event["task_data"]["title"] for r in sorted(records, key=lambda r: r.offset)] == [
        f"g{n}" for n in range(20)
    ]
    status, ready = _call(f"{gunicorn}/readyz")
    assert (status, ready["checks"]["outbox"]["pending"]) == (200, 0)


def _readyz(settings: Settings) -> TestResponse:
    """GET /readyz from an app built with these settings (its connections closed afterwards)."""
    app = create_app({"TESTING": True}, settings=settings)
    response = app.test_client().get("/readyz")
    with app.app_context():
        db.engine.dispose()
    return response


def test_readyz_reports_the_backlog_and_turns_unready_past_the_limits(
    settings: Settings, engine: Engine, client: FlaskClient, auth: AuthActions
) -> None:
    """Pending count and oldest age are reported; too many, or too old, is 503."""
    user = auth.register()
    for n in range(3):
        client.post(f"/api/{user.user_id}/tasks", json={"title": f"t{n}"}, headers=user.headers)
    body = client.get("/readyz").get_json()
    assert body["status"] == "ready"
    assert body["checks"]["outbox"]["pending"] == 3
    assert body["checks"]["outbox"]["oldest_age_seconds"] >= 0
    response = _readyz(dataclasses.replace(settings, readyz_max_backlog=2))
    assert response.status_code == 503
    outbox = response.get_json()["checks"]["outbox"]
    assert outbox == {
        "pending": 3,
        "oldest_age_seconds": pytest.approx(0, abs=30),
        "parked": 0,
        "problem": "more than 2 events waiting",
    }
    with engine.begin() as conn:
        conn.execute(text("UPDATE outbox SET created_at = now() - interval '10 minutes'"))
    response = _readyz(dataclasses.replace(settings, readyz_max_backlog_age_seconds=300))
    assert response.status_code == 503
    assert response.get_json()["checks"]["outbox"]["problem"] == "oldest event waiting over 300s"
    assert pending_count(engine) == 3
