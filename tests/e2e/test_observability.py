"""A running pipeline is observable: both /metrics answer with what the dashboard and alerts query, the
figures follow what happened, and no log line names an email address, a password or a token."""

from __future__ import annotations

import logging
import re
import urllib.request
import uuid
from dataclasses import dataclass

import pytest
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from tests.deploy.conftest import CHART
from tests.fixtures.pipeline import Pipeline
from tests.fixtures.streams import wait_for
from tests.streams.helpers import produce

pytestmark = [pytest.mark.slow]
PASSWORD = "observable horse battery"
QUERIED = [
    CHART / "dashboards" / "todo-platform.json",
    CHART / "templates" / "monitoring" / "prometheusrule.yaml",
]
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@dataclass
class Run:
    """What a run through the pipeline used and produced: the secrets it must never log, its users."""

    emails: list[str]
    secrets: list[str]
    user_ids: list[str]
    events: int


def parse(text: str) -> Samples:
    """Metric samples keyed by (name, sorted labels)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def web_metrics(client: FlaskClient) -> Samples:
    """The web app's /metrics."""
    response = client.get("/metrics")
    assert response.status_code == 200
    return parse(response.get_data(as_text=True))


def worker_metrics(pipeline: Pipeline) -> Samples:
    """The worker's /metrics on its web port."""
    with urllib.request.urlopen(f"{pipeline.worker.url}/metrics", timeout=10) as response:  # noqa: S310
        assert response.headers["Content-Type"].startswith("text/plain")
        return parse(response.read().decode())


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum of a metric's samples whose labels include these."""
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= set(ls))


def session(client: FlaskClient, run: Run) -> None:
    """Register, fail a login, log in, refresh, and take two tasks through their lives."""
    email = f"observed-{uuid.uuid4().hex[:8]}@example.com"
    assert client.post("/api/auth/register", json={"email": email, "password": PASSWORD}).status_code == 201
    wrong = client.post("/api/auth/login", json={"email": email, "password": PASSWORD + "x"})
    assert wrong.status_code == 401
    login = client.post("/api/auth/login", json={"email": email, "password": PASSWORD}).get_json()
    refresh = client.post("/api/auth/refresh", headers={"Authorization": f"Bearer {login['refresh_token']}"})
    assert refresh.status_code == 200
    access = refresh.get_json()["access_token"]
    bearer, user = {"Authorization": f"Bearer {access}"}, login["user_id"]
    for title in ("observe me", "and me"):
        task = client.post(f"/api/{user}/tasks", json={"title": title}, headers=bearer).get_json()
        assert client.patch(f"/api/{user}/tasks/{task['id']}/complete", headers=bearer).status_code == 200
    assert client.delete(f"/api/{user}/tasks/{task['id']}", headers=bearer).status_code == 204
    assert (
        client.get(f"/api/{user}/tasks", headers={"Authorization": "Bearer not-a-token"}).status_code == 401
    )
    run.emails.append(email)
    run.secrets += [PASSWORD, PASSWORD + "x", login["access_token"], login["refresh_token"], access]
    run.user_ids.append(user)
    run.events += 5


@pytest.fixture(scope="module")
def run(pipeline: Pipeline) -> Run:
    """Two users' sessions and one poison message, run through the pipeline and settled."""
    result = Run([], [], [], 0)
    client = pipeline.app.test_client()
    for _ in range(2):
        session(client, result)
    produce(
        pipeline.settings.kafka_bootstrap_servers, pipeline.topics.events, [(b"poison", b"{not json", [])]
    )
    for email in result.emails:
        wait_for(lambda e=email: len(pipeline.mails_to(e)) == 2, timeout=60, what=f"two mails to {email}")
    wait_for(
        lambda: total(worker_metrics(pipeline), "todo_worker_events_total") >= result.events + 1,
        timeout=60, what="every event settled by the worker",
    )  # fmt: skip
    return result


def test_every_metric_the_dashboard_and_alerts_query_is_exposed(pipeline: Pipeline, run: Run):
    exposed = {name for name, _ in [*web_metrics(pipeline.app.test_client()), *worker_metrics(pipeline)]}
    queried = {name for path in QUERIED for name in re.findall(r"\btodo_[a-z_]+\b", path.read_text())}
    assert len(queried) >= 12
    assert queried - exposed == set()


def test_the_figures_follow_what_happened(pipeline: Pipeline, run: Run):
    web = web_metrics(pipeline.app.test_client())
    assert total(web, "todo_http_requests_total", route="/api/auth/login", status="401") >= 2
    assert (
        total(web, "todo_http_requests_total", route="/api/<user_id>/tasks", method="POST", status="201") >= 4
    )
    assert total(web, "todo_outbox_published_total") >= run.events
    assert total(web, "todo_outbox_relay_leader") == 1
    wait_for(lambda: total(web_metrics(pipeline.app.test_client()), "todo_outbox_pending_events") == 0)
    worker = worker_metrics(pipeline)
    assert total(worker, "todo_worker_events_total", outcome="audited") >= run.events
    assert total(worker, "todo_worker_events_total", event_type="completed", outcome="audited") >= 4
    assert total(worker, "todo_worker_dead_letters_total", reason="invalid-json") == 1
    assert total(worker, "todo_worker_mails_total", outcome="sent") >= 4
    assert total(worker, "todo_worker_event_latency_seconds_count") >= run.events
    # The tally takes its counts messages every second at most: mail may be out before both users are in.
    wait_for(lambda: total(worker_metrics(pipeline), "todo_worker_counts_users") >= 2, timeout=10,
             what="both users in this worker's counts table")  # fmt: skip
    lag = {labels: v for (name, labels), v in worker.items() if name == "todo_worker_consumer_lag"}
    assert len(lag) == pipeline.topics.partitions, "one lag series per partition this worker holds"
    wait_for(lambda: total(worker_metrics(pipeline), "todo_worker_consumer_lag") == 0, timeout=30,
             what="the consumer lag to drain once offsets are committed")  # fmt: skip


def test_no_log_line_names_an_email_password_or_token(
    pipeline: Pipeline, run: Run, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO)
    # The relay logs its rounds at DEBUG (a quiet relay says nothing at INFO): read those too.
    caplog.set_level(logging.DEBUG, logger="web.outbox.relay")
    session(pipeline.app.test_client(), run)  # once more with this test's log capture on
    wait_for(lambda: len(pipeline.mails_to(run.emails[-1])) == 2, timeout=60, what="the last user's mails")
    worker_log = pipeline.worker.log()
    assert "completion mail for event" in worker_log, "the worker's log must be part of the check"
    # The SMTP sink runs in this process as the stand-in for the outside mail server; its own
    # lines (aiosmtpd's "mail.log", which `make run` does not print) are not the platform's.
    ours = [record for record in caplog.records if record.name != "mail.log"]
    web_log = "\n".join(f"{r.name}: {r.getMessage()} {r.exc_text or ''}" for r in ours)
    assert "web.outbox.relay" in web_log, "the relay's lines must be part of the check"
    logs = web_log + worker_log
    for secret in [*run.emails, *run.secrets]:
        assert secret not in logs, f"a log line contains {secret[:12]}…"
    assert not re.search(r"[\w.+-]+@example\.com", logs)
