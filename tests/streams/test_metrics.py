"""The worker's metrics, bumped by the audit path itself (driven through Faust's test_context)."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Engine

import streams.audit.agents
from shared.events import new_event
from shared.settings import Settings
from streams.counts import CountBatch, CountUpdate, tally
from streams.metrics import observe_audit_batch


def sample(name: str, **labels: str) -> float:
    """A sample's current value in the default registry (0 when it has none yet)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_the_audit_agent_counts_events_batches_and_latency(
    engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch, forwarded: list[object]
) -> None:
    monkeypatch.setattr(streams.audit.agents, "settings", dataclasses.replace(settings, audit_batch_size=2))
    events = [
        new_event(event_type=kind, user_id="metrics", task_id=1, title="t", description="", completed=False)
        for kind in ("created", "updated", "updated")
    ]
    before = {kind: sample("todo_worker_events_total", event_type=kind, outcome="audited") for kind in
              ("created", "updated")}  # fmt: skip
    batches, latencies = (
        sample("todo_worker_batch_size_count"),
        sample("todo_worker_event_latency_seconds_count"),
    )

    async def run() -> None:
        async with streams.audit.agents.audit.test_context() as agent:
            for event in events:
                await agent.put(event.to_json().encode(), key=b"metrics")
            await asyncio.sleep(0.5)  # the last, partial batch flushes after `within`

    asyncio.run(run())
    assert (
        sample("todo_worker_events_total", event_type="created", outcome="audited") - before["created"] == 1
    )
    assert (
        sample("todo_worker_events_total", event_type="updated", outcome="audited") - before["updated"] == 2
    )
    assert sample("todo_worker_batch_size_count") - batches == 2  # 3 events in batches of at most 2
    assert sample("todo_worker_event_latency_seconds_count") - latencies == 3


def test_a_settled_batch_records_outcomes_by_type_and_the_commit_to_row_latency():
    old = dataclasses.replace(
        new_event(event_type="completed", user_id="m", task_id=2, title="t", description="", completed=True),
        timestamp=datetime.now(UTC) - timedelta(seconds=40),
    )
    slow_before = sample("todo_worker_event_latency_seconds_bucket", le="30.0")
    total_before = sample("todo_worker_event_latency_seconds_count")
    unknown_before = sample("todo_worker_events_total", event_type="unknown", outcome="dead_lettered")
    observe_audit_batch(audited=[old], dead_lettered=[None, None], seconds=0.2)
    assert (
        sample("todo_worker_events_total", event_type="unknown", outcome="dead_lettered") - unknown_before
        == 2
    )
    assert sample("todo_worker_event_latency_seconds_count") - total_before == 1
    assert sample("todo_worker_event_latency_seconds_bucket", le="30.0") == slow_before, "40 s is over 30 s"


def test_the_tally_counts_the_events_it_counted_and_the_duplicates_it_skipped():
    updates = [
        CountUpdate("tallied", "e1", "created", 0, 1),
        CountUpdate("tallied", "e1", "created", 0, 1),  # redelivered
        CountUpdate("tallied", "e2", "deleted", 0, 2),
        CountUpdate("tallied", "e2", "deleted", 0, 9),  # published twice: same event_id, later offset
    ]
    keys = [
        ("created", "counted"),
        ("created", "duplicate"),
        ("deleted", "counted"),
        ("deleted", "duplicate"),
    ]
    before = [sample("todo_worker_count_updates_total", event_type=t, outcome=o) for t, o in keys]

    async def run() -> None:
        async with tally.test_context() as agent:
            await agent.put(CountBatch(updates=[list(u) for u in updates]))

    asyncio.run(run())
    after = [sample("todo_worker_count_updates_total", event_type=t, outcome=o) for t, o in keys]
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 1, 1]
