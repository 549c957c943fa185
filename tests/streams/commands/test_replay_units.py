"""The replay's pieces that need no broker: the same count update as the worker's, start options, recounts."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from aiokafka import ConsumerRecord, TopicPartition

from shared.counts import counts_from
from shared.events import new_event
from streams import counts
from streams.commands.base import Usage
from streams.commands.recount import Recount, count_update
from streams.commands.replay import Tally, start_from
from streams.count_entry import RECENT_EVENT_IDS, Counted
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


def record_at(partition: int, offset: int) -> ConsumerRecord:
    """A task-events record at this position (the recount reads only where it was)."""
    return ConsumerRecord(
        topic="task-events", partition=partition, offset=offset, timestamp=0, timestamp_type=0, key=None,
        value=b"", checksum=None, serialized_key_size=0, serialized_value_size=0, headers=(),
    )  # fmt: skip


def test_a_recount_counts_each_event_id_once_and_corrects_only_the_users_asked_for():
    kinds = ["created", *["updated"] * (RECENT_EVENT_IDS + 1), "deleted"]
    events = [
        new_event(event_type=kind, user_id="lu", task_id=1, title="t", description="", completed=False)
        for kind in kinds
    ]
    recount = Recount()
    for offset, event in enumerate([*events, events[1]]):  # the last one published twice
        recount.add(record_at(3, offset), event)
    recount.add(
        record_at(0, 7),
        new_event(event_type="created", user_id="mo", task_id=2, title="t", description="", completed=False),
    )
    snapshot = {TopicPartition("task-events", p): 100 + p for p in range(4)}

    [lu] = recount.corrections(["lu"], snapshot)
    assert lu.counts == counts_from({"created": 1, "updated": RECENT_EVENT_IDS + 1, "deleted": 1})
    assert lu.offsets == {3: len(events)}  # the repeat's offset: a redelivery of it is skipped too
    assert lu.snapshot == {0: 100, 1: 101, 2: 102, 3: 103}
    assert [c.event_id for c in lu.recent] == [str(e.event_id) for e in events[-RECENT_EVENT_IDS:]]
    assert lu.recent[-1] == Counted(str(events[-1].event_id), 3, len(events) - 1, "deleted")
    assert recount.gaps == []


def test_totals_are_not_set_from_a_topic_that_may_lack_events():
    recount = Recount()
    recount.check_whole({TopicPartition("t", 0): 0, TopicPartition("t", 1): 40}, [TopicPartition("t", 2)])
    assert recount.gaps == ["partition 1 starts at 40", "partition 2 was not read to its end"]
    tally = Tally(dry_run=False, totals_refused="; ".join(recount.gaps))
    line = tally.summary(topic="t", partitions=3, parts=("counts",))
    gaps = "(partition 1 starts at 40; partition 2 was not read to its end)"
    assert line.endswith(f"; counts: 0 count updates sent, totals not set: the topic may lack events {gaps}")
