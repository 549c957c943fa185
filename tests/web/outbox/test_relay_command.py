"""`todo-platform relay`: the relay as its own process, stopped cleanly by SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import Engine

from shared.db import make_sessionmaker
from shared.events import new_event
from tests.fixtures.kafka import Topics
from tests.web.outbox.conftest import consume, wait_until_published
from web.outbox.store import commit_with_events


def test_relay_command_publishes_and_stops_on_sigterm(
    engine: Engine, database_url: str, kafka_bootstrap: str, kafka_topics: Topics, tmp_path: Path
) -> None:
    """Pending events go out; SIGTERM ends the process with status 0 after releasing the lock."""
    event = new_event(
        event_type="created", user_id="cli-user", task_id=1, title="t", description="", completed=False
    )
    with make_sessionmaker(engine)() as session:
        commit_with_events(session=session, events=[event])
    env = {
        **os.environ, "APP_ENV": "test", "DATABASE_URL": database_url, "EVENT_PUBLISHER": "kafka",
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "TASK_EVENTS_TOPIC": kafka_topics.events,
    }  # fmt: skip
    log = tmp_path / "relay.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "shared.cli", "relay"], env=env, stdout=out, stderr=out
        )
        try:
            wait_until_published(engine, timeout=30)
        finally:
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=15)
    (record,) = consume(kafka_bootstrap, kafka_topics.events, expect=1)
    assert record.event["event_id"] == str(event.event_id)
    assert code == 0, log.read_text()
    assert "relay: stopped" in log.read_text()


def test_relay_command_rejects_bad_settings_with_exit_2() -> None:
    """A malformed setting is named on stderr, exit status 2, no traceback."""
    env = {**os.environ, "RELAY_POLL_SECONDS": "soon"}
    argv = [sys.executable, "-m", "shared.cli", "relay"]
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "RELAY_POLL_SECONDS must be a number" in result.stderr
    assert "Traceback" not in result.stderr
