"""The audit and notifications agents driven through Faust's test_context() (memory store, no broker)."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from sqlalchemy import Engine, func, select

import streams.audit.agents
import streams.notifications.agents
from shared.events import TaskEvent, new_event
from shared.models import AuditLog, SentNotification
from shared.settings import Settings


def test_audit_agent_writes_batches_idempotently(
    engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch, forwarded: list[TaskEvent]
) -> None:
    monkeypatch.setattr(streams.audit.agents, "settings", dataclasses.replace(settings, audit_batch_size=2))
    events = [
        new_event(event_type="created", user_id="ctx", task_id=i, title="t", description="", completed=False)
        for i in range(3)
    ]

    async def run() -> None:
        async with streams.audit.agents.audit.test_context() as agent:
            for event in [*events, events[0]]:
                await agent.put(event.to_json().encode(), key=b"ctx")
            await asyncio.sleep(0.5)  # the last, partial batch flushes after `within`

    asyncio.run(run())
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(AuditLog)) == 3
    # Every audited message is forwarded once (the tally drops the redelivered event by its id).
    assert [event.event_type for event in forwarded] == ["created"] * 4


def test_notifications_agent_ignores_events_that_are_not_completions(
    engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streams.notifications.agents, "settings", settings)
    created = new_event(
        event_type="created", user_id="ctx", task_id=1, title="t", description="", completed=False
    )

    async def run() -> None:
        async with streams.notifications.agents.notifications.test_context() as agent:
            await agent.put(created.to_json().encode(), key=b"ctx")

    asyncio.run(run())
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(SentNotification)) == 0
