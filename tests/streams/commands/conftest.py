"""Running the operator commands as operators do: `faust -A streams.app ...` in a process of its own."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from devstack.kafka import free_port
from tests.fixtures.kafka import Topics
from tests.fixtures.streams import worker_env


def faust(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run one command of the streams app; its output as text."""
    argv = [sys.executable, "-m", "faust", "-A", "streams.app", *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=180, check=False)


def faust_started(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """Start one command of the streams app and return without waiting for it."""
    argv = [sys.executable, "-m", "faust", "-A", "streams.app", *args]
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def summary(result: subprocess.CompletedProcess[str]) -> str:
    """The last line a command printed (its summary)."""
    lines = result.stdout.strip().splitlines()
    assert lines, f"no output; stderr:\n{result.stderr}"
    return lines[-1]


@pytest.fixture
def command_env(
    database_url: str, kafka_bootstrap: str, kafka_topics: Topics, tmp_path: Path
) -> dict[str, str]:
    """The environment of a command (and of a worker) on this test's topics and database."""
    return worker_env(
        database_url=database_url,
        bootstrap=kafka_bootstrap,
        events_topic=kafka_topics.events,
        dlq_topic=kafka_topics.dlq,
        app_id=f"test-ops-{uuid.uuid4().hex[:8]}",
        port=free_port(),
        data_dir=tmp_path / "data",
        smtp_port=free_port(),
    )


async def _commit_to_end(bootstrap: str, topic: str, group: str) -> None:
    """Move a consumer group past everything on the topic, as if it had processed it all."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        if not tps:
            await consumer.topics()
            tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(tps)
        await consumer.commit(await consumer.end_offsets(tps))
    finally:
        await consumer.stop()


def commit_to_end(bootstrap: str, topic: str, group: str) -> None:
    """Synchronous _commit_to_end."""
    asyncio.run(_commit_to_end(bootstrap, topic, group))
