"""A real worker process in production log format: JSON lines only, and /metrics on its web port."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from devstack.kafka import free_port
from shared.events import new_event
from tests.fixtures.kafka import Topics
from tests.fixtures.streams import MailSink, Worker, make_worker, wait_for
from tests.streams.conftest import add_user
from tests.streams.helpers import bare, keyed, produce, produce_to

pytestmark = [pytest.mark.slow]
PROCFILE = Path(__file__).resolve().parents[2] / "Procfile"


def procfile_command(role: str) -> list[str]:
    """A Procfile role's command, split as a shell would (it runs as production runs it)."""
    for line in PROCFILE.read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == role:
            return shlex.split(command)
    raise AssertionError(f"no {role} in the Procfile")


@pytest.fixture(scope="module")
def json_worker(
    database_url: str,
    kafka_bootstrap: str,
    module_topics: Topics,
    mail_sink: MailSink,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Worker]:
    """The Procfile's worker logging as in production (LOG_FORMAT=json), stopped after the module."""
    worker = make_worker(
        database_url=database_url,
        bootstrap=kafka_bootstrap,
        topics=module_topics,
        smtp_port=mail_sink[0].port,
        directory=tmp_path_factory.mktemp("json-worker"),
        app_id=f"test-json-{uuid.uuid4().hex[:8]}",
        LOG_FORMAT="json",
    )
    worker.argv = ["-m", *procfile_command("worker")]
    worker.start()
    worker.wait_ready()
    yield worker
    worker.stop()


def test_the_worker_serves_prometheus_metrics(json_worker: Worker):
    with urllib.request.urlopen(f"{json_worker.url}/metrics", timeout=10) as response:  # noqa: S310
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        names = {f.name for f in text_string_to_metric_families(response.read().decode())}
    assert {"todo_worker_events", "todo_worker_consumer_lag", "todo_worker_batch_size"} <= names
    # Every agent's crash counter is there at 0 before any crash (a dashboard and increase() see it).
    crashes = {
        labels["agent"]: value for labels, value in json_worker.samples("todo_worker_agent_crashes_total")
    }
    assert crashes == dict.fromkeys(
        ["streams.activity.count_activity", "streams.audit.agents.audit", "streams.counts.tally",
         "streams.notifications.agents.notifications"], 0.0,
    )  # fmt: skip


def test_every_line_the_worker_writes_is_a_json_object(json_worker: Worker):
    lines = [line for line in json_worker.log().splitlines() if line.strip()]
    assert any("worker ready" in line for line in lines)
    not_json = [line for line in lines if not _is_json_object(line)]
    assert not_json == []


def outcomes(worker: Worker) -> dict[tuple[str, str, str], float]:
    """The worker's per-agent event counters as (metric, event_type, outcome) -> value."""
    with urllib.request.urlopen(f"{worker.url}/metrics", timeout=10) as response:  # noqa: S310
        families = text_string_to_metric_families(response.read().decode())
    return {
        (s.name, s.labels["event_type"], s.labels["outcome"]): s.value
        for f in families
        for s in f.samples
        if s.name in ("todo_worker_notification_events_total", "todo_worker_count_updates_total")
    }


def test_the_notifications_and_tally_agents_count_events_by_type_and_outcome(
    json_worker: Worker, kafka_bootstrap: str, module_topics: Topics, engine: Engine
):
    users = [
        add_user(engine, email="counted@example.com"),
        add_user(engine, email="hushed@example.com", notifications=False),
        add_user(engine, email="not an address"),  # refused for good: the completion is dead-lettered
    ]
    done = [
        new_event(event_type="completed", user_id=user, task_id=1, title="t", description="", completed=True)
        for user in users
    ]
    twice = new_event(
        event_type="updated", user_id=users[0], task_id=1, title="t", description="", completed=False
    )
    before = outcomes(json_worker)
    # The update is published twice (two messages, one event_id): the tally counts it once.
    produce(kafka_bootstrap, module_topics.events, [keyed(e, bare(e)) for e in [*done, twice, twice]])

    expected = {
        ("todo_worker_notification_events_total", "completed", "sent"): 1,
        ("todo_worker_notification_events_total", "completed", "skipped"): 1,
        ("todo_worker_notification_events_total", "completed", "dead_lettered"): 1,
        ("todo_worker_count_updates_total", "completed", "counted"): 3,
        ("todo_worker_count_updates_total", "updated", "counted"): 1,
        ("todo_worker_count_updates_total", "updated", "duplicate"): 1,
    }

    def added() -> dict[tuple[str, str, str], float]:
        after = outcomes(json_worker)
        return {key: after.get(key, 0) - before.get(key, 0) for key in expected}

    wait_for(lambda: added() == expected, timeout=60, what="each agent's outcomes")


def _is_json_object(line: str) -> bool:
    """Whether a log line is one JSON object with the fields collectors index."""
    try:
        body = json.loads(line)
    except ValueError:
        return False
    return isinstance(body, dict) and {"time", "level", "logger", "message"} <= body.keys()


def by_partition(worker: Worker, gauge: str) -> dict[str, float]:
    """One of the worker's per-partition gauges, by partition."""
    return {labels["partition"]: value for labels, value in worker.samples(gauge)}


def lag_by_partition(worker: Worker) -> dict[str, float]:
    """The worker's todo_worker_consumer_lag samples by partition."""
    return by_partition(worker, "todo_worker_consumer_lag")


def committed_by_partition(worker: Worker) -> dict[str, float]:
    """The worker's todo_worker_committed_offset samples by partition."""
    return by_partition(worker, "todo_worker_committed_offset")


def send_created(bootstrap: str, topic: str, *, partition: int, user_id: str, count: int) -> None:
    """`count` created events of one user, straight to one partition."""
    events = [
        new_event(
            event_type="created", user_id=user_id, task_id=n, title="t", description="", completed=False
        )
        for n in range(count)
    ]
    produce_to(bootstrap, topic, [(partition, user_id.encode(), bare(e), []) for e in events])


def test_a_worker_that_settles_events_commits_past_them_and_shows_no_lag(
    json_worker: Worker, kafka_bootstrap: str, module_topics: Topics
):
    wait_for(lambda: lag_by_partition(json_worker).get("4") == 0, what="partition 4 caught up")
    before = committed_by_partition(json_worker)["4"]
    send_created(kafka_bootstrap, module_topics.events, partition=4, user_id="settled", count=3)
    wait_for(
        lambda: (
            (committed_by_partition(json_worker)["4"], lag_by_partition(json_worker)["4"]) == (before + 3, 0)
        ),
        timeout=30,
        what="the offset committed past the three events",
    )


def test_consumer_lag_counts_what_a_worker_without_its_database_cannot_commit(
    kafka_bootstrap: str, kafka_topics: Topics, mail_sink: MailSink, tmp_path: Path
):
    # Its own topics: on the module's, the module's worker audited these events after the test had
    # emptied the tables, and another module's test in the same process found them.
    # Nothing listens on this port: the audit insert retries (transient) and holds its offsets.
    stalled = make_worker(
        database_url=f"postgresql://todo@127.0.0.1:{free_port()}/todo",
        bootstrap=kafka_bootstrap,
        topics=kafka_topics,
        smtp_port=mail_sink[0].port,
        directory=tmp_path,
        app_id=f"test-lag-{uuid.uuid4().hex[:8]}",
    ).start()
    try:
        stalled.wait_ready()
        wait_for(lambda: len(lag_by_partition(stalled)) == kafka_topics.partitions, what="a lag series each")
        before = lag_by_partition(stalled)["2"]
        committed = committed_by_partition(stalled)["2"]
        send_created(kafka_bootstrap, kafka_topics.events, partition=2, user_id="lagging", count=5)
        wait_for(
            lambda: lag_by_partition(stalled)["2"] == before + 5, timeout=30, what="lag 5 on partition 2"
        )
        time.sleep(3)  # past Faust's commit interval: still nothing committed
        assert lag_by_partition(stalled)["2"] == before + 5
        assert committed_by_partition(stalled)["2"] == committed  # lag that stays: what the stall alert reads
    finally:
        stalled.stop()


def test_sigusr1_logs_where_each_agent_waits(json_worker: Worker) -> None:
    """mode's own dump stopped at `await coro` for every agent; this one names our lines."""
    assert json_worker.process is not None
    os.kill(json_worker.process.pid, signal.SIGUSR1)
    dump = wait_for(
        lambda: next((line for line in json_worker.log().splitlines() if "suspended frames" in line), None),
        what="the SIGUSR1 dump in the worker's log",
    )
    for agent in ("streams/audit/agents.py", "streams/notifications/agents.py", "streams/counts.py"):
        assert agent in dump, f"{agent} missing from {dump}"
    partitions = wait_for(
        lambda: next(
            (line for line in json_worker.log().splitlines() if "task-events partitions" in line), None
        ),
        what="the partitions in the SIGUSR1 dump",
    )
    # An idle worker has handed on everything it fetched, on every partition of its topic.
    stands = re.findall(r"\[(\d)\] fetched to (\d+), next to hand on (\d+),", str(partitions))
    assert sorted(int(p) for p, _, _ in stands) == list(range(6)), partitions
    assert all(fetched == handing for _, fetched, handing in stands), partitions
    assert json_worker.get("/ready/")[0] == 200, "the worker carries on after the dump"
