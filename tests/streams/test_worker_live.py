"""GET /live/: a real worker whose tally crashed says so, while one whose agents run says it is live.

The broken deployment is the one that froze the counts in a benchmark: the counts table's changelog
created (by asking the broker about it too early) with another partition count than task-events, so
that the tally's first take raised PartitionsMismatch; Faust restarted the agent, which then counted
nothing, and the worker stayed Ready.
"""

from __future__ import annotations

import urllib.request
import uuid
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, func, select

from devstack.kafka import create_topics
from devstack.mailsink import SaveToDirectory
from shared.events import new_event
from shared.models import AuditLog
from tests.fixtures.kafka import Topics
from tests.fixtures.streams import Worker, make_worker, wait_for
from tests.streams.helpers import bare, keyed, produce

pytestmark = pytest.mark.slow


def crashes_of(worker: Worker, agent: str) -> float:
    """The worker's todo_worker_agent_crashes_total for one agent."""
    with urllib.request.urlopen(f"{worker.url}/metrics", timeout=10) as response:  # noqa: S310
        families = text_string_to_metric_families(response.read().decode())
    return sum(
        s.value
        for f in families
        for s in f.samples
        if s.name == "todo_worker_agent_crashes_total" and s.labels["agent"] == agent
    )


def audited(engine: Engine, user_id: str) -> int:
    """The user's audit rows."""
    with engine.connect() as conn:
        return int(
            conn.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.user_id == user_id)) or 0
        )


def test_a_worker_whose_tally_crashed_is_not_live_and_says_which_agent_and_why(
    database_url: str,
    kafka_bootstrap: str,
    kafka_topics: Topics,
    mail_sink: tuple[Controller, SaveToDirectory],
    tmp_path: Path,
    engine: Engine,
) -> None:
    app_id = f"test-live-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_bootstrap, {f"{app_id}-user_to_counts-changelog": kafka_topics.partitions - 2})
    worker = make_worker(
        database_url=database_url, bootstrap=kafka_bootstrap, topics=kafka_topics,
        smtp_port=mail_sink[0].port, directory=tmp_path, app_id=app_id,
    ).start()  # fmt: skip
    try:
        worker.wait_ready()
        assert worker.get("/live/") == (200, {"live": True, "crashed": {}})
        user = f"looping-{uuid.uuid4().hex[:6]}"
        for task_id in range(1, 5):
            event = new_event(
                event_type="created",
                user_id=user,
                task_id=task_id,
                title="t",
                description="",
                completed=False,
            )
            produce(kafka_bootstrap, kafka_topics.events, [keyed(event, bare(event))])
            wait_for(lambda n=task_id: audited(engine, user) == n, what=f"audit row {task_id}")
        _, body = wait_for(
            lambda: (answer := worker.get("/live/"))[0] == 503 and answer, timeout=30, what="/live/ 503"
        )
        assert list(body["crashed"]) == ["streams.counts.tally"], body
        assert "PartitionsMismatch" in body["crashed"]["streams.counts.tally"]["last_error"], body
        assert (
            crashes_of(worker, "streams.counts.tally") == body["crashed"]["streams.counts.tally"]["crashes"]
        )
        assert worker.get("/ready/")[0] == 200, "readiness alone could not tell"
    finally:
        worker.stop()
