"""`dlq redrive` killed (SIGKILL) at a chosen send and run again: every letter is back on task-events once.

The kill is real: the command runs in its own process, whose producer is wrapped to SIGKILL that
process as it is about to send a chosen record, so the broker holds exactly what a crash there leaves.
"""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from devstack.kafka import create_topics
from shared.events import new_event
from tests.fixtures.kafka import Topics
from tests.streams.commands.conftest import faust, summary
from tests.streams.helpers import bare, produce_to, read_topic

pytestmark = pytest.mark.slow

# `faust -A streams.app ...` whose producer kills its own process on the first record carrying the
# header named by KILL_ON_HEADER (the redriven copy, or the mark that says it went back).
KILLED_AT = """
import os, signal, sys
from aiokafka import AIOKafkaProducer

send = AIOKafkaProducer.send
fatal = os.environ["KILL_ON_HEADER"]

async def send_or_die(self, topic, value=None, key=None, partition=None, timestamp_ms=None, headers=None):
    if any(name == fatal for name, _ in headers or ()):
        os.kill(os.getpid(), signal.SIGKILL)
    return await send(self, topic, value, key, partition, timestamp_ms, headers)

AIOKafkaProducer.send = send_or_die
from faust.cli.faust import cli
cli()
"""
COPY, MARK = "x-dlq-redriven-from", "x-dlq-redriven"


def killed_at(header: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run a command that is killed as it sends the first record with this header."""
    argv = [sys.executable, "-c", KILLED_AT, "-A", "streams.app", *args]
    return subprocess.run(
        argv, env={**env, "KILL_ON_HEADER": header}, capture_output=True, text=True, timeout=180, check=False
    )


def two_letters(bootstrap: str, topics: Topics) -> None:
    """Two valid events dead-lettered from task-events, at DLQ offsets 0:0 and 0:1."""
    for offset, user in enumerate(("ann", "bob")):
        event = new_event(
            event_type="completed", user_id=user, task_id=1, title="t", description="", completed=True
        )
        headers = [
            ("x-dlq-error", b"hand-on-failed"),
            ("x-dlq-source-topic", topics.events.encode()),
            ("x-dlq-source-offset", str(offset).encode()),
        ]
        produce_to(bootstrap, topics.dlq, [(0, user.encode(), bare(event), headers)])


def copies(bootstrap: str, topics: Topics) -> list[str]:
    """Where each message on task-events was redriven from, sorted (one entry per copy)."""
    records = read_topic(bootstrap, topics.events, count=10, timeout=5)
    return sorted(dict(record.headers)[COPY].decode() for record in records)


def test_killed_after_sending_a_letter_back_and_before_marking_it_the_next_redrive_sends_it_no_more(
    command_env, kafka_bootstrap: str, kafka_topics: Topics
):
    two_letters(kafka_bootstrap, kafka_topics)
    killed = killed_at(MARK, command_env, "dlq", "redrive", "--all")
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    assert copies(kafka_bootstrap, kafka_topics) == [f"{kafka_topics.dlq}:0:0"], "sent, not yet marked"

    listed = faust(command_env, "dlq", "list")
    assert [line.split()[-1] for line in listed.stdout.splitlines()[1:3]] == ["interrupted", "interrupted"]
    again = faust(command_env, "dlq", "redrive", "--all")
    assert again.returncode == 0, again.stderr
    events = kafka_topics.events
    assert summary(again) == f"dlq redrive: 1 sent back to {events}, 1 already redriven, 0 truncated"
    assert copies(kafka_bootstrap, kafka_topics) == [f"{kafka_topics.dlq}:0:{n}" for n in (0, 1)]

    third = faust(command_env, "dlq", "redrive", "--all")
    assert summary(third) == f"dlq redrive: 0 sent back to {events}, 2 already redriven, 0 truncated"
    assert len(read_topic(kafka_bootstrap, kafka_topics.events, count=10, timeout=3)) == 2


def test_killed_before_sending_a_letter_back_the_next_redrive_sends_it(
    command_env, kafka_bootstrap: str, kafka_topics: Topics
):
    two_letters(kafka_bootstrap, kafka_topics)
    killed = killed_at(COPY, command_env, "dlq", "redrive", "--all")
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    assert copies(kafka_bootstrap, kafka_topics) == []

    again = faust(command_env, "dlq", "redrive", "--all")
    assert again.returncode == 0, again.stderr
    events = kafka_topics.events
    assert summary(again) == f"dlq redrive: 2 sent back to {events}, 0 already redriven, 0 truncated"
    assert copies(kafka_bootstrap, kafka_topics) == [f"{kafka_topics.dlq}:0:{n}" for n in (0, 1)]


def test_a_mail_letter_killed_before_its_mark_is_found_on_the_completions_topic_and_not_sent_again(
    command_env, kafka_bootstrap: str, kafka_topics: Topics
):
    completions = f"{command_env['WORKER_APP_ID']}-completions"
    create_topics(kafka_bootstrap, {completions: 1})
    event = new_event(
        event_type="completed", user_id="cy", task_id=1, title="t", description="", completed=True
    )
    headers = [("x-dlq-error", b"mail-rejected"), ("x-dlq-source-topic", completions.encode())]
    produce_to(kafka_bootstrap, kafka_topics.dlq, [(0, b"cy", bare(event), headers)])

    killed = killed_at(MARK, command_env, "dlq", "redrive", "--all")
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    again = faust(command_env, "dlq", "redrive", "--all")
    assert again.returncode == 0, again.stderr
    assert (
        summary(again)
        == f"dlq redrive: 0 sent back to {kafka_topics.events}, 1 already redriven, 0 truncated"
    )
    copied = read_topic(kafka_bootstrap, completions, count=5, timeout=3)
    assert [dict(record.headers)[COPY] for record in copied] == [f"{kafka_topics.dlq}:0:0".encode()]
    assert read_topic(kafka_bootstrap, kafka_topics.events, count=5, timeout=2) == []
