"""/metrics on the web app: requests by route template and status, and the outbox read at scrape time."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, text
from sqlalchemy.pool import NullPool

from devstack.kafka import free_port
from shared.db import make_engine, make_sessionmaker
from shared.events import new_event
from shared.settings import Settings
from tests.conftest import AuthActions
from tests.fixtures.kafka import Topics
from tests.web.outbox.conftest import wait_until_published
from web.outbox.publishers import make_publisher
from web.outbox.relay import Relay
from web.outbox.store import commit_with_events


def scrape(client: FlaskClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics keyed by (name, sorted labels)."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
    }


def requests_of(samples: dict, route: str, method: str, status: str) -> float:
    """The request counter for one route template, method and status (0 when absent)."""
    key = ("todo_http_requests_total", (("method", method), ("route", route), ("status", status)))
    return samples.get(key, 0.0)


def test_requests_are_counted_by_route_template_and_status(client: FlaskClient, auth: AuthActions):
    user = auth.register()
    route = "/api/<user_id>/tasks/<int:task_id>"
    before = scrape(client)
    for missing in (101, 102, 103):
        assert client.get(f"/api/{user.user_id}/tasks/{missing}", headers=user.headers).status_code == 404
    client.get("/no/such/page")
    after = scrape(client)
    assert requests_of(after, route, "GET", "404") - requests_of(before, route, "GET", "404") == 3
    assert requests_of(after, "unmatched", "GET", "404") - requests_of(before, "unmatched", "GET", "404") == 1
    latency = ("todo_http_request_duration_seconds_count", (("method", "GET"), ("route", route)))
    assert after[latency] - before.get(latency, 0.0) == 3
    assert not any(user.user_id in str(labels) for _, labels in after), "raw paths must not become labels"


def test_outbox_backlog_and_relay_leadership_are_read_when_scraped(
    client: FlaskClient, auth: AuthActions, engine: Engine
):
    user = auth.register()
    assert scrape(client)[("todo_outbox_relay_leader", ())] == 0.0
    for title in ("one", "two"):
        created = client.post(f"/api/{user.user_id}/tasks", json={"title": title}, headers=user.headers)
        assert created.status_code == 201
    with engine.begin() as conn:
        conn.execute(text("UPDATE outbox SET created_at = now() - interval '90 seconds'"))
    samples = scrape(client)
    assert samples[("todo_outbox_pending_events", ())] == 2
    assert samples[("todo_outbox_parked_events", ())] == 0
    assert samples[("todo_outbox_oldest_pending_age_seconds", ())] >= 90
    with engine.begin() as conn:
        conn.execute(text("UPDATE outbox SET parked_at = now() WHERE id = (SELECT min(id) FROM outbox)"))
    samples = scrape(client)
    assert (samples[("todo_outbox_pending_events", ())], samples[("todo_outbox_parked_events", ())]) == (1, 1)
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(x'746F646F72656C61'::bigint)"))
        assert scrape(client)[("todo_outbox_relay_leader", ())] == 1.0
        conn.execute(text("SELECT pg_advisory_unlock_all()"))


def test_a_failed_publish_is_counted_and_logged_with_its_event_id(
    settings: Settings,
    engine: Engine,
    client: FlaskClient,
    auth: AuthActions,
    caplog: pytest.LogCaptureFixture,
):
    user = auth.register()
    created = client.post(f"/api/{user.user_id}/tasks", json={"title": "stuck"}, headers=user.headers)
    assert created.status_code == 201
    with engine.connect() as conn:
        event_id = str(conn.scalar(text("SELECT event_id FROM outbox ORDER BY id DESC LIMIT 1")))
    # A broker that is not there: nothing listens on this port, so the publish really fails.
    down = dataclasses.replace(
        settings, event_publisher="kafka", kafka_bootstrap_servers=f"127.0.0.1:{free_port()}",
        kafka_timeout_seconds=1.0,
    )  # fmt: skip
    relay = Relay(engine=make_engine(down, poolclass=NullPool), publisher=make_publisher(down), settings=down)
    failures = scrape(client).get(("todo_outbox_publish_failures_total", ()), 0.0)
    with caplog.at_level(logging.WARNING, logger="web.outbox.relay"):
        relay.step()
    relay._resign()
    relay.publisher.close()
    assert scrape(client)[("todo_outbox_publish_failures_total", ())] - failures == 1
    (line,) = [r for r in caplog.records if getattr(r, "event_id", None) == event_id]
    assert "not published" in line.getMessage()


def test_the_separate_relay_serves_its_publish_counts(
    engine: Engine, database_url: str, kafka_bootstrap: str, kafka_topics: Topics, tmp_path: Path
):
    event = new_event(event_type="created", user_id="relay-metrics", task_id=1, title="t", description="",
                      completed=False)  # fmt: skip
    with make_sessionmaker(engine)() as session:
        commit_with_events(session=session, events=[event])
    port = free_port()
    env = {
        **os.environ, "APP_ENV": "test", "DATABASE_URL": database_url, "EVENT_PUBLISHER": "kafka",
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "TASK_EVENTS_TOPIC": kafka_topics.events,
        "RELAY_METRICS_PORT": str(port),
    }  # fmt: skip
    log = tmp_path / "relay.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "web", "relay"], env=env,
                                   stdout=out, stderr=out)  # fmt: skip
        try:
            wait_until_published(engine, timeout=30)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
                body = response.read().decode()
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=15)
    samples = {s.name: s.value for f in text_string_to_metric_families(body) for s in f.samples}
    assert samples["todo_outbox_published_total"] == 1, log.read_text()
    assert samples["todo_outbox_publish_failures_total"] == 0


def test_metrics_are_not_served_through_the_public_proxy(client: FlaskClient):
    assert client.get("/metrics").status_code == 200
    forwarded = client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert forwarded.status_code == 404
    assert b"todo_" not in forwarded.data
