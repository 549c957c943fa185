"""GET /live/: a real worker whose tally crashed says so, while one whose agents run says it is live.

The broken deployment is the one that froze the counts in a benchmark: the counts table's changelog
created (by asking the broker about it too early) with another partition count than task-events, so
that the tally's first take raised PartitionsMismatch; Faust restarted the agent, which then counted
nothing, and the worker stayed Ready.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from devstack.kafka import create_topics
from shared.events import new_event
from shared.models import AuditLog
from tests.fixtures.kafka import Topics
from tests.fixtures.streams import MailSink, Worker, make_worker, wait_for
from tests.streams.helpers import bare, keyed, produce

pytestmark = pytest.mark.slow


def crashes_of(worker: Worker, agent: str) -> float:
    """The worker's todo_worker_agent_crashes_total for one agent."""
    return sum(
        value
        for labels, value in worker.samples("todo_worker_agent_crashes_total")
        if labels["agent"] == agent
    )


def audited(engine: Engine, user_id: str) -> int:
    """The user's audit rows."""
    with engine.connect() as conn:
        return int(
            conn.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.user_id == user_id)) or 0
        )


@pytest.fixture
def mismatched_worker(
    database_url: str, kafka_bootstrap: str, kafka_topics: Topics, mail_sink: MailSink, tmp_path: Path
) -> Iterator[Worker]:
    """A worker whose counts changelog was created with two partitions fewer than task-events."""
    app_id = f"test-live-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_bootstrap, {f"{app_id}-user_to_counts-changelog": kafka_topics.partitions - 2})
    worker = make_worker(
        database_url=database_url, bootstrap=kafka_bootstrap, topics=kafka_topics,
        smtp_port=mail_sink[0].port, directory=tmp_path, app_id=app_id,
    ).start()  # fmt: skip
    yield worker
    worker.stop()


def test_a_worker_whose_tally_crashed_is_not_live_and_says_which_agent_and_why(
    mismatched_worker: Worker, kafka_bootstrap: str, kafka_topics: Topics, engine: Engine
) -> None:
    worker = mismatched_worker
    worker.wait_ready()
    assert worker.get("/live/") == (200, {"live": True, "crashed": {}})
    user = f"looping-{uuid.uuid4().hex[:6]}"
    events = [
        new_event(event_type="created", user_id=user, task_id=n, title="t", description="", completed=False)
        for n in range(3)
    ]
    produce(kafka_bootstrap, kafka_topics.events, [keyed(e, bare(e)) for e in events])
    wait_for(lambda: audited(engine, user) == len(events), what="the audit rows, which go on")
    _, body = wait_for(
        lambda: (answer := worker.get("/live/"))[0] == 503 and answer, timeout=30, what="/live/ 503"
    )
    assert list(body["crashed"]) == ["streams.counts.tally"], body
    tally = body["crashed"]["streams.counts.tally"]
    assert "PartitionsMismatch" in tally["last_error"], body
    assert crashes_of(worker, "streams.counts.tally") == tally["crashes"] >= 1
    assert worker.get("/ready/")[0] == 200, "readiness alone could not tell"
