"""`flask --app web relay`: the relay as its own process, stopped cleanly by SIGTERM."""

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

RELAY = [sys.executable, "-m", "flask", "--app", "web", "relay"]


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
        process = subprocess.Popen(RELAY, env=env, stdout=out, stderr=out)
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
    result = subprocess.run(RELAY, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "RELAY_POLL_SECONDS must be a number" in result.stderr
    assert "Traceback" not in result.stderr


def test_relay_command_explains_itself() -> None:
    """`--help` says what it does and how many may run."""
    env = {**os.environ, "DATABASE_URL": "postgresql://todo@127.0.0.1:1/todo"}  # --help never connects
    result = subprocess.run(
        [*RELAY, "--help"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "Publish outbox events to Kafka until SIGINT/SIGTERM" in result.stdout
    assert "advisory" in result.stdout


def test_flask_commands_without_a_database_url_say_so_with_exit_2() -> None:
    """No DATABASE_URL is a one-line error naming it, not a SQLAlchemy traceback."""
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    result = subprocess.run(RELAY, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "DATABASE_URL must be set" in result.stderr
    assert "Traceback" not in result.stderr
