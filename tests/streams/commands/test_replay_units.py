"""The replay's pieces that need no broker: the same count update as the worker's, start options."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from aiokafka import ConsumerRecord

from shared.events import new_event
from streams import counts
from streams.commands.base import Usage
from streams.commands.replay import count_update, start_from
from tests.streams.helpers import bare


def test_a_replayed_count_update_is_the_one_the_worker_makes():
    event = new_event(
        event_type="updated", user_id="kim", task_id=3, title="t", description="", completed=False
    )
    record = ConsumerRecord(
        topic="task-events", partition=2, offset=41, timestamp=0, timestamp_type=0, key=b"kim",
        value=bare(event), checksum=None, serialized_key_size=3, serialized_value_size=0, headers=(),
    )  # fmt: skip
    # What the audit agent forwards for the same message, read from the message as the agent reads it.
    [[worker]] = counts.by_partition(
        counts.count_update(t, partition=e.message.partition, offset=e.message.offset)
        for e, t in [(SimpleNamespace(message=record), event)]
    ).values()
    assert count_update(record, event) == worker
    assert (worker.source_partition, worker.source_offset, worker.timestamp) == (
        2,
        41,
        event.timestamp.timestamp(),
    )


def test_exactly_one_start():
    assert start_from(True, None, ()).beginning
    assert dict(start_from(False, None, ("0:5", "3:0")).offsets) == {0: 5, 3: 0}
    assert start_from(False, "2026-12-01T09:00:00+01:00", ()).since.hour == 8
    for chosen in [(False, None, ()), (True, "2026-12-01T09:00:00Z", ()), (True, None, ("0:1",))]:
        with pytest.raises(Usage, match="exactly one of"):
            start_from(*chosen)
